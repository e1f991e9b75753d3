#!/usr/bin/env bash
# The full test suite, from a fresh machine: installs Bun, openssh-server, sudo, PostgreSQL, MariaDB
# and Redis if missing, starts the local PostgreSQL, type-checks, and runs `bun test` as root (the
# end-to-end tests build sandbox VPS hosts in network and mount namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "The test suite builds network namespaces and must run as root." >&2
  exit 1
fi

need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# The sandbox VPS's MySQL is the host's MariaDB (never started on the host itself).
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # Package scripts must not start services on the host: the suite starts what it needs.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

source scripts/ensure-tools.sh
source scripts/test-postgres.sh

echo "==> type-checking"
bunx tsc --noEmit -p .

echo "==> running the test suite"
bun test --timeout 120000 "$@"
