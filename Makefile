# `make run` and `make test` each do the whole set-up first (a virtualenv in .venv).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run console web start test

# The same settings as the Procfile's web process (tests/test_datasette.py checks they agree).
DATASETTE_SETTINGS := --setting allow_csv_stream on --setting max_csv_mb 0 --setting sql_time_limit_ms 3000 --setting max_returned_rows 1000 --setting suggest_facets off

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m bot

console: $(VENV)/.installed
	$(PY) -m bot console

# Datasette on this machine only (127.0.0.1:8001), no login.
web: $(VENV)/.installed
	$(PY) -m bot migrate
	$(VENV)/bin/datasette serve "$${CONVERSATION_LOG_DB:-conversation_logs.db}" --metadata metadata.yml --plugins-dir plugins --template-dir templates --host 127.0.0.1 --port 8001 $(DATASETTE_SETTINGS)

# Both Procfile processes (bot and Datasette behind a login) on one file, as on a server.
start: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start

# The browser tests drive Debian's Chromium (never a downloaded browser).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The benchmarks (their quick run is a test) compare against the sqlite3 command-line tool.
/usr/bin/sqlite3:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3

test: $(VENV)/.installed /usr/bin/chromium /usr/bin/sqlite3
	$(PY) -m pytest
