// Loaded after datasette-dashboards 0.8's dashboards.js (templates/dashboard_view.html, dashboard_chart.html).
// Its renderTableChart and renderMetricChart write query results with innerHTML, so a Discord display name
// such as `~<img src=x onerror=...>` in the top-users chart became markup in the owner's page (issue 20).
// These declarations replace them (renderChart looks the functions up when it runs) and write text only.

async function chartRows(chart, query_string, absolute_url) {
  const results = await fetch(getDataUrl(chart, query_string, absolute_url))
  return await results.json()
}

function textElement(tag, value) {
  const element = document.createElement(tag)
  element.textContent = value === null || value === undefined ? '' : String(value)
  return element
}

async function renderTableChart(chart_slug, chart, query_string, absolute_url, full_height) {
  const data = await chartRows(chart, query_string, absolute_url)
  const columns = data.rows.length ? Object.keys(data.rows[0]) : []
  const head = document.createElement('tr')
  columns.forEach(column => head.appendChild(textElement('th', column)))
  const thead = document.createElement('thead')
  thead.appendChild(head)

  const tbody = document.createElement('tbody')
  data.rows.forEach(row => {
    const tr = document.createElement('tr')
    columns.forEach(column => tr.appendChild(textElement('td', row[column])))
    tbody.appendChild(tr)
  })

  const table = document.createElement('table')
  table.append(thead, tbody)
  const wrapper = document.createElement('div')
  Object.assign(wrapper.style, { width: '100%', height: '100%', overflow: 'auto' })
  wrapper.appendChild(table)
  document.querySelector(`#chart-${chart_slug}`).appendChild(wrapper)
  if (data.truncated) {
    enableChartTooltip(chart_slug)
  }
}

async function renderMetricChart(chart_slug, chart, query_string, absolute_url, full_height) {
  const data = await chartRows(chart, query_string, absolute_url)
  const metric = data.rows.length ? data.rows[0][chart.display.field] : ''
  const p = textElement('p', `${chart.display.prefix || ''}${metric}${chart.display.suffix || ''}`)
  Object.assign(p.style, { fontSize: '2.2rem', fontWeight: '900' })

  const wrapper = document.createElement('div')
  Object.assign(wrapper.style, {
    width: '100%', height: '100%', display: 'flex', flexDirection: 'column', justifyContent: 'center',
    alignItems: 'center', overflow: 'hidden', whiteSpace: 'nowrap', textOverflow: 'ellipsis',
  })
  wrapper.appendChild(p)
  document.querySelector(`#chart-${chart_slug}`).appendChild(wrapper)
  if (data.truncated) {
    enableChartTooltip(chart_slug)
  }
}

// The Fullscreen button (shown with the dashboard setting allow_fullscreen), without an inline onclick.
const fullscreenButton = document.querySelector('#dashboard-fullscreen')
if (fullscreenButton) {
  fullscreenButton.addEventListener('click', toggleFullscreen)
}
