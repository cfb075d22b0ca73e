# The targets the README names. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup run test test-pg lint typecheck validate pytest bench bench-smoke loadtest clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py validate_content

run: setup
	$(PY) -m learnsite.runner

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy learnsite lessons quizzes sandbox live console

validate: $(STAMP)
	$(PY) manage.py validate_content

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: setup lint typecheck pytest

# The whole suite once more on PostgreSQL (DATABASE_URL defaults to the local `test` database).
test-pg: $(STAMP)
	DATABASE_URL=$${PG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run

bench-smoke: $(STAMP)
	$(PY) -m bench.run --smoke

# 200 learners for 60 s, on SQLite and then on PostgreSQL; tables in bench/results/.
loadtest: $(STAMP)
	rc=0; \
	$(PY) -m bench.loadtest --db sqlite || rc=1; \
	$(PY) -m bench.loadtest --db postgres --pg-url $${PG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} || rc=1; \
	exit $$rc

clean:
	rm -rf $(VENV) staticfiles test-output .pytest_cache .mypy_cache .ruff_cache db.sqlite3*
