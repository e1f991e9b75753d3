#!/usr/bin/env bash
# Starts this machine's PostgreSQL for the tests and exports TEST_DATABASE_URL: a superuser
# role of the suite's own (tests create and drop throwaway databases through it).
set -euo pipefail

line=$(pg_lsclusters -h 2>/dev/null | sort -V | tail -n 1)
if [ -z "$line" ]; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  pg_createcluster "$ver" main >/dev/null
  line=$(pg_lsclusters -h | sort -V | tail -n 1)
fi
read -r PG_VER PG_CLUSTER PG_PORT PG_STATUS _ <<<"$line"
if [ "$PG_STATUS" != online ]; then
  echo "==> starting PostgreSQL $PG_VER/$PG_CLUSTER"
  pg_ctlcluster "$PG_VER" "$PG_CLUSTER" start
fi
pg_isready -q -p "$PG_PORT" -t 30

TEST_PG_PASSWORD=zyotra-test-only
(cd /tmp && runuser -u postgres -- psql -X -q -p "$PG_PORT" -v ON_ERROR_STOP=1 -d postgres) <<SQL
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'zyotra_test') AS missing \gset
\if :missing
CREATE ROLE zyotra_test LOGIN SUPERUSER PASSWORD '$TEST_PG_PASSWORD';
\endif
SQL
export TEST_DATABASE_URL="postgresql://zyotra_test:$TEST_PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
