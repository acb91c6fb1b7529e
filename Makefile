# The two commands: `make run` starts the whole system, `make test` passes every test.
# Both install what they need into .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run start stop demo test test-unit bench services browser screens clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP) browser

# Make sure this machine's RabbitMQ and PostgreSQL are up (starting them if stopped).
services:
	@bash scripts/ensure-services.sh

# The web tests' browser: Debian's Chromium and Vietnamese fonts, installed when missing.
browser:
	@bash scripts/ensure-browser.sh

# Foreground: every service and the HTTP gateway; Ctrl-C stops them all.
# WORKERS sets how many notification delivery workers share the work queue.
WORKERS ?= 1
export WORKERS
run: install services
	$(BIN)/python -m dev.launcher run

# Background variants used by `make demo` and by hand.
start: install services
	$(BIN)/python -m dev.launcher start

stop: install
	$(BIN)/python -m dev.launcher stop

demo: install services
	$(BIN)/python -m dev.demo

test: install services
	$(BIN)/python -m pytest -q

# Screenshots of the web pages (docs/screens/, linked from the README): the whole system is
# started as the web tests start it, and a headless Chromium signs in as each role.
screens: install services
	EXEMPLARS_SCREENS_DIR=docs/screens $(BIN)/python -m pytest -q tests/e2e/test_web_e2e.py -k screens

# One tier at a time: unit needs no broker or database server; e2e starts the whole system.
test-unit: install
	$(BIN)/python -m pytest -q tests/unit

bench: install services
	$(BIN)/python tests/bench/bench.py

clean:
	rm -rf $(VENV) var/*.sqlite var/run
