# The targets the README names. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# Every package, transitive ones included, pinned for the runtime, dev and embedded extras.
LOCK := requirements.lock
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=
# Three workers on this 2-core machine: about half the suite's time is spent waiting on the
# servers, browsers and Redis it starts (measured 2026-12-02: pytest 15m15s with 2 workers,
# 12m48s with 3, same commit). `make pytest PYTEST_WORKERS=0` runs in one process (pdb).
PYTEST_WORKERS ?= 3
# loadgroup: tests marked @pytest.mark.xdist_group(name) share a worker; the rest spread out.
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup
# Branch coverage of the app packages ([tool.coverage] in pyproject.toml), report printed.
COVERAGE := --cov --cov-report=term-missing:skip-covered
# The import-layer contracts ([tool.importlinter] in pyproject.toml; ARCHITECTURE.md).
LINT_IMPORTS := $(BIN)/lint-imports
# pip-tools lives in a venv of its own so it never shapes the project's environment.
PIP_TOOLS := $(VENV)/pip-tools
LOCK_ARGS ?=

.PHONY: setup run test test-pg lint typecheck validate pytest lock test-deploy bench bench-codelab bench-smoke abuse loadtest editor clean

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r $(LOCK)
	$(PIP) install --quiet --no-deps -e .
	$(PIP) check
	touch $(STAMP)

# Re-resolve $(LOCK) from pyproject.toml, keeping the pins that still fit;
# `make lock LOCK_ARGS=--upgrade` moves every transitive pin to its newest release.
lock:
	test -x $(PIP_TOOLS)/bin/pip-compile || { $(PYTHON) -m venv $(PIP_TOOLS) && \
		$(PIP_TOOLS)/bin/pip install --quiet --disable-pip-version-check pip-tools==7.6.2; }
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_TOOLS)/bin/pip-compile --quiet \
		--extra dev --extra embedded --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links $(LOCK_ARGS) --output-file $(LOCK) pyproject.toml

# Migrations do not depend on the course content, so they skip the (content) system checks;
# validate_content checks the content next, with every message naming its file and line.
setup: $(STAMP)
	$(PY) manage.py migrate --noinput --skip-checks -v 0
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py validate_content

run: setup
	$(PY) -m learnsite.runner

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(LINT_IMPORTS) --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy learnsite lessons quizzes progress sandbox live console lab

validate: $(STAMP)
	$(PY) manage.py validate_content

pytest: $(STAMP)
	$(BIN)/pytest $(XDIST) $(COVERAGE) $(PYTEST_ARGS)

test: setup lint typecheck pytest

# The whole suite once more on PostgreSQL (DATABASE_URL defaults to the local `test` database),
# on the same workers, without coverage. pytest-django gives each xdist worker its own test database.
test-pg: $(STAMP)
	DATABASE_URL=$${PG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
		$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

# deploy/ for real: Debian's nginx (apt-get installs it if missing) with a self-signed
# certificate in front of two uvicorn instances under DEBUG=0, checked through the proxy over
# HTTPS and, in Chromium, HTTP/2 (tests/deploy/). Needs the Redis at 127.0.0.1:6379.
test-deploy: $(STAMP)
	$(BIN)/pytest tests/deploy -m deploy -p no:cacheprovider -v

bench: $(STAMP)
	$(PY) -m bench.run
	$(PY) -m bench.pages
	$(PY) -m bench.viewermemory
	$(PY) -m bench.codelab
	$(PY) -m bench.targets

# The code lab alone (issue 13): first output, a crowd of 20, a runner killed mid-run.
bench-codelab: $(STAMP)
	$(PY) -m bench.codelab

bench-smoke: $(STAMP)
	$(PY) -m bench.run --smoke
	$(PY) -m bench.pages --smoke

# The attacks of issue 11 against the real site; figures in bench/results/abuse.md.
abuse: $(STAMP)
	$(PY) -m bench.abuse

# 200 learners for 60 s, on SQLite and then on PostgreSQL; tables in bench/results/.
loadtest: $(STAMP)
	rc=0; \
	$(PY) -m bench.loadtest --db sqlite || rc=1; \
	$(PY) -m bench.loadtest --db postgres --pg-url $${PG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} || rc=1; \
	exit $$rc

# Rebuild the code lab's editor (CodeMirror 6) into static/vendor/codemirror/ from the pinned
# frontend/codemirror/package-lock.json. The built file is committed: run and test need no Node.
editor:
	cd frontend/codemirror && npm ci && node build.mjs

clean:
	rm -rf $(VENV) staticfiles test-output .pytest_cache .mypy_cache .ruff_cache db.sqlite3* .coverage .coverage.*
