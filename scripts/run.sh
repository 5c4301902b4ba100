#!/usr/bin/env bash
# Runs a script of scripts/ (demo, bench) on a fresh machine: dependencies, build, local cluster.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
[[ -d node_modules/@actions/core ]] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.json
[[ -f dist/index.js ]] || npm run --silent package
bash test/cluster/up.sh
exec node "lib/scripts/$1.js" "${@:2}"
