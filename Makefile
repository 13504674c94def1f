# Opstap: one place for the everyday commands. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help setup run chat test lint texts migrate migration bench lock clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# The versions of requirements-dev.lock (`make lock`), so two set-ups a week apart agree.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements-dev.lock -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install Opstap with its development tools

run: setup  ## run the bot (terminal chat when no OPSTAP_TELEGRAM_TOKEN is set)
	@if [ -n "$$OPSTAP_TELEGRAM_TOKEN" ] || grep -qs '^OPSTAP_TELEGRAM_TOKEN=.\+' .env; then \
		$(BIN)/opstap run; \
	else \
		echo "No OPSTAP_TELEGRAM_TOKEN set: starting the terminal chat on the embedded SQLite database instead."; \
		$(BIN)/opstap chat; \
	fi

chat: setup  ## talk to Opstap in the terminal
	$(BIN)/opstap chat

migrate: setup  ## bring the database schema up to date
	$(BIN)/opstap migrate

test: setup  ## run the tests (set OPSTAP_TEST_DATABASE_URL to run them on PostgreSQL)
	$(BIN)/python -m pytest -q

lint: setup  ## ruff, formatting, mypy, the catalog check and the questionnaire check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/catalogs.py check
	$(BIN)/opstap questionnaire check flows/questionnaires/*.yaml

texts: setup  ## extract strings, update every catalog, compile
	$(BIN)/python scripts/catalogs.py update
	@$(BIN)/python scripts/catalogs.py check || echo "Translate the entries above in locales/<lang>/LC_MESSAGES/messages.po"

migration: setup  ## new Alembic revision from the models: make migration m="what changed"
	@db=$$(mktemp -d)/m.db; \
	OPSTAP_DATABASE_URL=sqlite+aiosqlite:///$$db $(BIN)/alembic upgrade head && \
	OPSTAP_DATABASE_URL=sqlite+aiosqlite:///$$db $(BIN)/alembic revision --autogenerate -m "$(m)"

SCALE ?= full
bench: setup  ## run the benchmarks (SCALE=tiny for a quick smoke run); see BENCHMARKS.md
	$(BIN)/python -m bench.run --scale $(SCALE)$(if $(filter tiny,$(SCALE)), --json /tmp/opstap-bench-tiny.json,)$(if $(POSTGRES), --postgres $(POSTGRES),)

lock: setup  ## pin every dependency: requirements.lock (the container), requirements-dev.lock (CI)
	$(BIN)/uv pip compile --quiet --upgrade --python-version 3.11 pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet --upgrade --python-version 3.11 --extra dev pyproject.toml -o requirements-dev.lock

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
