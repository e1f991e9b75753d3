#!/usr/bin/env bash
# Installs what the service and its tests need on a fresh Debian machine with Node.js:
# Bun (from the npm registry, pinned) and the project's packages (from bun.lock).
# Sourced by start.sh and test.sh; safe to run again.
set -euo pipefail
BUN_VERSION=1.4.5

if ! command -v bun >/dev/null 2>&1 || [ "$(bun --version)" != "$BUN_VERSION" ]; then
  echo "==> installing bun $BUN_VERSION from the npm registry"
  npm install --global --no-fund --no-audit "bun@$BUN_VERSION" >/dev/null
  hash -r
fi

echo "==> installing packages (bun.lock)"
bun install --frozen-lockfile >/dev/null
