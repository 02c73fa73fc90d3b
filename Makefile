# `make run` and `make test` each do the whole set-up first (a virtualenv in .venv).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run console test

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m bot

console: $(VENV)/.installed
	$(PY) -m bot console

test: $(VENV)/.installed
	$(PY) -m pytest
