# `make run` and `make test` each do the whole set-up first (a virtualenv in .venv).
# run, console, web and start install the runtime only (requirements.lock: 72 packages, 206 MB); test, lint and
# typecheck add the dev tools (requirements-dev.lock: 147 packages, 1.2 GB; playwright, datasets with pyarrow
# and pandas, and moto[server] weigh most).
VENV := .venv
PY := $(VENV)/bin/python
# The version the locks are compiled for: the oldest that pyproject.toml's requires-python allows.
LOCK_PYTHON := 3.11

.PHONY: run console web start demo test test-fast lint typecheck lock lock-check

# The same settings as the Procfile's web process (tests/test_datasette.py checks they agree).
DATASETTE_SETTINGS := --setting allow_csv_stream on --setting max_csv_mb 0 --setting sql_time_limit_ms 3000 --setting max_returned_rows 1000 --setting suggest_facets off

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The runtime, pinned: requirements.txt is the list people edit, requirements.lock what is installed.
$(VENV)/.installed: requirements.lock | $(PY)
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

# The runtime and the test, lint and type tools, pinned alike.
$(VENV)/.installed-dev: requirements-dev.lock $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.lock
	touch $@

run: $(VENV)/.installed
	$(PY) -m bot

console: $(VENV)/.installed
	$(PY) -m bot console

# Datasette on this machine only (127.0.0.1:8001), no login, on the log the bot writes (.env's CONVERSATION_LOG_DB
# too), or on the log DB names: `make web DB=demo/conversation_logs.db`.
DB :=
WITH_DB = $(if $(DB),CONVERSATION_LOG_DB="$(DB)")
web: $(VENV)/.installed
	$(WITH_DB) $(PY) -m bot migrate
	$(VENV)/bin/datasette serve "$$($(WITH_DB) $(PY) -c 'from bot.config.settings import Settings; print(Settings.from_env().log_db)')" --metadata metadata.yml --plugins-dir plugins --template-dir templates --host 127.0.0.1 --port 8001 $(DATASETTE_SETTINGS)

# A sample log of made-up conversations (a new file; 20,000 rows take a few seconds), then:
# make web DB=demo/conversation_logs.db (Datasette serves the log under that file name only).
DEMO := demo/conversation_logs.db
ROWS := 20000
demo: $(VENV)/.installed
	$(PY) -m bot demo $(DEMO) --rows $(ROWS)

# Both Procfile processes (bot and Datasette behind a login) on one file, as on a server; Datasette on $PORT
# (honcho's default: 5000). honcho stops both when one exits, so the worker never exits on its own: with no
# DISCORD_TOKEN or a refused one it says why in one line and waits (run --stay-up); with Discord out of
# reach it retries after 1, 2, 5, 15, 30, then every 60 s. The web alone: .venv/bin/honcho start web
start: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start

# The browser tests drive Debian's Chromium (never a downloaded browser).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The benchmarks (their quick run is a test) compare against the sqlite3 command-line tool.
/usr/bin/sqlite3:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The files and the strictness per package are pyproject.toml's.
typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

# Lint and types first, so CI (.ci/run runs this) fails on either before the suite runs.
test: lint typecheck /usr/bin/chromium /usr/bin/sqlite3
	$(PY) -m pytest

# The suite without the tests marked slow (real processes, datasette serve, litestream, a browser).
test-fast: $(VENV)/.installed-dev /usr/bin/sqlite3
	$(PY) -m pytest -m "not slow"

# After a change to requirements*.txt: uv keeps every pin the locks already hold and pins only what changed;
# `make lock UPGRADE=--upgrade` moves every pin to the newest release the lists allow. The dev lock first, for the
# machine the tests run on (Linux x86_64; the browser, chattr and loop-mount tests need it); the runtime lock then
# takes its pins from it, so the tests run the very versions `make run` installs, and keeps the environment markers
# (--universal: pysqlite3-binary on Linux x86_64 only), so it serves every OS.
UPGRADE :=
# Exactly: uv's output is the locks' format, and another version could rewrite locks whose lists did not change.
UV_VERSION := 0.13.9
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet $(UPGRADE) --custom-compile-command "make lock" \
	--python-version $(LOCK_PYTHON)

lock: | $(PY)
	$(PY) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV_COMPILE) --python-platform x86_64-unknown-linux-gnu requirements.txt requirements-dev.txt \
		-o requirements-dev.lock
	$(UV_COMPILE) --universal requirements.txt --constraint requirements-dev.lock -o requirements.lock

# The locks say what requirements*.txt say: locking again changes nothing (.ci/run checks it, so a list edited
# without `make lock` fails CI instead of being left out of every install).
lock-check: lock
	git diff --exit-code -- requirements.lock requirements-dev.lock
