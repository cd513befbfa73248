# The two set-up commands of the README. Each installs what it needs on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test services bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

## demo: the whole lifecycle against a local GitHub and a local SageMaker (bot: gunicorn + worker on SQLite)
demo: $(VENV)/.installed
	$(VENV)/bin/modelbot demo $(DEMO_ARGS)

## test: the whole test suite, on SQLite and on PostgreSQL + Redis
test: $(VENV)/.installed services
	$(PY) -m pytest $(PYTEST_ARGS)

## services: start PostgreSQL and Redis on 127.0.0.1 if they are not running
services:
	@bash .ci/services

## bench: every benchmark (each prints ratios against a baseline measured in the same run)
bench: $(VENV)/.installed
	$(PY) bench/bench_intake.py
	$(PY) bench/bench_report.py
	$(PY) bench/bench_compare.py
	$(PY) bench/bench_rollouts.py
	$(PY) bench/bench_load.py
	$(PY) bench/bench_trace.py
	$(PY) bench/bench_drift.py
	$(PY) bench/bench_experiment.py
	$(PY) bench/bench_pacing.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
