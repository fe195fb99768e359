#!/usr/bin/env bash
# Make sure the system packages a target needs are present.
#   scripts/ensure-system-deps.sh demo   -> Python 3.11+, Node.js 20+, npm, a TrueType CJK font (PDFs)
#   scripts/ensure-system-deps.sh test   -> the above plus PostgreSQL, Redis, Chromium, CJK fonts
# As root, missing Debian packages are installed; otherwise they are named and we fail.
set -euo pipefail
target="${1:-demo}"
missing=()

have() { command -v "$1" >/dev/null 2>&1; }
pg_binaries() { have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

have python3 || missing+=(python3 python3-venv)
have node || missing+=(nodejs)
have npm || missing+=(npm)
# Medical-record and prescription PDFs embed a TrueType CJK font (reportlab cannot embed CFF/OTF).
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
if [ "$target" = "test" ]; then
  pg_binaries || missing+=(postgresql)
  have redis-server || missing+=(redis-server)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  fc-list 2>/dev/null | grep -qi "noto sans cjk" || missing+=(fonts-noto-cjk)
  have runuser || missing+=(util-linux)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && have apt-get; then
    echo "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing system packages: ${missing[*]}" >&2
    echo "install them (Debian: sudo apt-get install ${missing[*]}) and run again" >&2
    exit 1
  fi
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"Python 3.11+ is required, found {sys.version.split()[0]}")
PY
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "Node.js 20+ is required, found $(node --version)" >&2
  exit 1
fi
if ! have uv; then
  python3 -m pip install --quiet --disable-pip-version-check uv 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages uv
fi
