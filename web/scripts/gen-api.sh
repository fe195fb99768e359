#!/usr/bin/env bash
# Regenerate the typed API client from the server's OpenAPI document.
#   web/shared/openapi.json          (pretty, keys sorted: diffs stay small and stable)
#   web/shared/src/api/schema.d.ts   (openapi-typescript)
# Both files are checked in; CI regenerates them and fails on drift (git diff --exit-code).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
web="$(dirname "$here")"
repo="$(dirname "$web")"

cd "$repo"
# uv may be installed only as a module (python3 -m pip install uv) on a fresh machine.
${UV:-python3 -m uv} run --quiet python - "$web/shared/openapi.json" <<'PY'
import json
import sys

from ihis.app import openapi_document

with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(openapi_document(), out, ensure_ascii=False, indent=2, sort_keys=True)
    out.write("\n")
PY

cd "$web"
# --default-non-nullable false: a request field with a server default (e.g. client="web") stays
# optional for callers; response fields are listed as required by the server's schema anyway.
npx --no-install openapi-typescript shared/openapi.json -o shared/src/api/schema.d.ts --default-non-nullable false
echo "gen:api: wrote web/shared/openapi.json and web/shared/src/api/schema.d.ts"
