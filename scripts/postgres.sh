#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the tests (installed from Debian's
# packages when missing) and prints its SQLAlchemy URL. Idempotent: a running server is reused.
set -euo pipefail
port=${TF_PG_PORT:-54329}
dir=${TF_PG_DIR:-/tmp/tenantfixtures-pg}
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if [ ! -f "$dir/PG_VERSION" ]; then
  mkdir -p "$dir" && chown postgres "$dir"
  su postgres -c "$bin/initdb -D '$dir' -A trust -U postgres" >&2
fi
if ! su postgres -c "$bin/pg_ctl -D '$dir' status" >/dev/null 2>&1; then
  su postgres -c "$bin/pg_ctl -D '$dir' -l '$dir/server.log' -w start \
    -o '-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200'" >&2
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
