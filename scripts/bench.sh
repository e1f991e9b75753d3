#!/usr/bin/env bash
# Runs one benchmark (api | tableData | runQuery | backup | redis | mysqlTableData) with the same real components as the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
source scripts/ensure-tools.sh
source scripts/test-postgres.sh
exec bun "bench/$1.bench.ts"
