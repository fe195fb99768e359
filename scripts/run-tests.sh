#!/usr/bin/env bash
# The whole suite, in order; stops at the first failing stage and says which.
set -euo pipefail
cd "$(dirname "$0")/.."
stage() { printf '\n==== %s ====\n' "$1"; }

stage "lint (ruff)";                      make --no-print-directory lint
stage "type check (mypy --strict src)";   make --no-print-directory typecheck
stage "API client drift";                 make --no-print-directory api-client-check
stage "web type check and build";         make --no-print-directory web-check
stage "Python tests on SQLite";           make --no-print-directory test-sqlite
stage "Python tests on PostgreSQL";       make --no-print-directory test-postgres
stage "browser tests (Playwright + Debian Chromium)"; make --no-print-directory test-e2e
printf '\nall stages passed\n'
