#!/usr/bin/env bash
# The SQL injection suite proves from PostgreSQL's own statement statistics that no payload
# ever ran pg_sleep, so the server must preload pg_stat_statements (it ships with PostgreSQL).
# Idempotent: does nothing when it is already loaded; otherwise adds it to
# shared_preload_libraries and restarts the local cluster (pg_ctlcluster, as on Debian).
set -euo pipefail
PGURL="${RAMPART_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
current=$(psql "$PGURL" -Atc 'show shared_preload_libraries')
if [[ ",${current// /}," == *",pg_stat_statements,"* ]]; then
  echo "pg_stat_statements is preloaded"
  exit 0
fi
libraries="pg_stat_statements"
[[ -n "$current" ]] && libraries="$current,pg_stat_statements"
psql "$PGURL" -qc "alter system set shared_preload_libraries = '$libraries'"
version=$(ls /etc/postgresql | sort -n | tail -1)
echo "restarting PostgreSQL $version to preload pg_stat_statements"
pg_ctlcluster --skip-systemctl-redirect "$version" main restart
for _ in $(seq 1 30); do
  if psql "$PGURL" -Atc 'select 1' >/dev/null 2>&1; then break; fi
  sleep 1
done
psql "$PGURL" -Atc 'show shared_preload_libraries' | grep -q pg_stat_statements
