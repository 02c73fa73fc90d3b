"""A `counted` facet: a column facet that reads the log's facet_counts on the unfiltered table.

Datasette's column facet groups every row on every page view: at a million conversations each
facet ran into its 200 ms time limit. The bot keeps exact counts of these columns by trigger
(bot/store/schema.py, m008_facet_counts), so the table page reads a few rows instead. Once a filter or a
search narrows the rows, the counts are computed as Datasette always does.

In metadata.yml: `facets: [{counted: model_used}, ...]`.
"""

from typing import Any

from datasette import hookimpl
from datasette.facets import ColumnFacet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

# The columns bot/store/triggers.py keeps in facet_counts (a test checks that they agree).
COUNTED_COLUMNS = {"model_used", "user_name", "channel_id"}
COUNTS_SQL = """select value, conversations as count from facet_counts where facet = :column
                order by conversations desc, value limit :limit"""


class CountedFacet(ColumnFacet):
    type = "counted"

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        results, timed_out = await (self.counted_results() if self.unfiltered() else super().facet_results())
        for result in results:
            result["type"] = ColumnFacet.type  # the same facet as before to pages and JSON clients
        return results, timed_out

    def unfiltered(self) -> bool:
        # Datasette appends any where clause (filters, _search, _where) after the table name.
        return self.table is not None and self.sql.rstrip().endswith(f"from {escape_sqlite(self.table)}")

    async def counted_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        size = self.get_facet_size()
        results: list[dict[str, Any]] = []
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            if column not in COUNTED_COLUMNS:
                return await super().facet_results()
            rows = (await self.ds.execute(self.database, COUNTS_SQL, {"column": column, "limit": size + 1})).rows
            results.append(
                {
                    "name": column,
                    "type": self.type,
                    "hideable": source_and_config["source"] != "metadata",
                    "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet": column})),
                    "truncated": len(rows) > size,
                    "results": [self.value(column, row["value"], row["count"]) for row in rows[:size]],
                }
            )
        return results, []

    def value(self, column: str, value: Any, count: int) -> dict[str, Any]:
        path = path_with_added_args(self.request, {column: value})
        return {
            "value": value,
            "label": value,
            "count": count,
            "selected": False,
            "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(path)),
        }


@hookimpl
def register_facet_classes() -> list[type[ColumnFacet]]:
    return [CountedFacet]
