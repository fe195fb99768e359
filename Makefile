# IHIS — the two commands:
#   make demo   set everything up and run the demo hospital on http://127.0.0.1:8000
#   make test   set up and run the whole test suite (as CI does)
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= python3 -m uv
DEMO_ENV := IHIS_ENV=demo IHIS_DATABASE_URL=sqlite:///./var/demo.db IHIS_JOBS_PATH=./var/demo-jobs.db

.PHONY: help demo test setup venv web web-deps api-client api-client-check lint typecheck \
        test-sqlite test-postgres test-e2e web-check migrate migration serve clean

help:
	@echo "make demo   - set up and run the demo hospital on http://127.0.0.1:8000"
	@echo "make test   - set up and run the whole test suite"

demo: setup web
	$(DEMO_ENV) $(UV) run ihis migrate
	$(DEMO_ENV) $(UV) run ihis demo
	$(DEMO_ENV) $(UV) run ihis serve --host 127.0.0.1 --port 8000

test:
	scripts/ensure-system-deps.sh test
	$(MAKE) venv web-deps
	scripts/run-tests.sh

setup:
	scripts/ensure-system-deps.sh demo
	$(MAKE) venv

venv:
	$(UV) sync --frozen --all-groups

web-deps:
	cd web && npm ci --no-audit --no-fund

web: web-deps
	cd web && npm run build

api-client:
	cd web && UV="$(UV)" npm run gen:api

api-client-check: api-client
	git diff --exit-code -- web/shared/openapi.json web/shared/src/api/schema.d.ts \
	  || (echo "the generated API client is out of date: run 'make api-client' and commit" >&2; exit 1)

lint:
	$(UV) run ruff check src tests bench migrations
	$(UV) run ruff format --check src tests bench migrations

typecheck:
	$(UV) run mypy

test-sqlite:
	IHIS_TEST_DB=sqlite $(UV) run pytest -m "not e2e" $(PYTEST_ARGS)

test-postgres:
	IHIS_TEST_DB=postgres $(UV) run pytest -m "not e2e" $(PYTEST_ARGS)

web-check:
	cd web && npm run typecheck && npm run build

test-e2e:
	$(UV) run pytest -m e2e tests/e2e

migrate:
	$(UV) run ihis migrate

migration:
	@test -n "$(MSG)" || (echo 'usage: make migration MSG="what changed"' >&2; exit 1)
	$(UV) run python -c "import sys; from ihis.platform.migrations import autogenerate; autogenerate(sys.argv[1])" "$(MSG)"

serve:
	$(UV) run ihis serve

clean:
	rm -rf var .venv web/node_modules web/*/dist
