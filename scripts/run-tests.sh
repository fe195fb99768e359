#!/usr/bin/env bash
# The whole suite; stops at the first failing stage and says which.
# The two Python suites (SQLite, PostgreSQL) run side by side: each is one Python process, so on a
# multi-core machine together they take little longer than one. Their output is kept apart in logs
# and shown when both have finished.
set -euo pipefail
cd "$(dirname "$0")/.."
stage() { printf '\n==== %s ====\n' "$1"; }

stage "lint (ruff)";                      make --no-print-directory lint
stage "type check (mypy --strict src)";   make --no-print-directory typecheck
stage "API client drift";                 make --no-print-directory api-client-check
stage "web type check and build";         make --no-print-directory web-check

stage "Python tests on SQLite and on PostgreSQL (side by side)"
logs=$(mktemp -d)
for db in sqlite postgres; do
    mkdir -p "$logs/$db-tmp"
    ( if make --no-print-directory "test-$db" PYTEST_ARGS="--basetemp=$logs/$db-tmp" >"$logs/$db.log" 2>&1
      then echo 0; else echo 1; fi >"$logs/$db.rc" ) &
done
wait
failed=()
for db in sqlite postgres; do
    printf '\n---- Python tests on %s ----\n' "$db"
    cat "$logs/$db.log"
    [ "$(cat "$logs/$db.rc")" = 0 ] || failed+=("$db")
done
if [ ${#failed[@]} -gt 0 ]; then
    printf '\nPython tests failed on: %s\n' "${failed[*]}" >&2
    exit 1
fi

stage "browser tests (Playwright + Debian Chromium)"; make --no-print-directory test-e2e
printf '\nall stages passed\n'
