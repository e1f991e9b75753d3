#!/usr/bin/env bash
# Starts the service. With no database URLs set (and NODE_ENV not production) it runs on the
# zero-config default: an embedded PostgreSQL (PGlite) in ./.data with generated secrets.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-tools.sh
exec bun src/index.ts
