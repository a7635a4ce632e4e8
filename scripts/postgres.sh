#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the integration tests and prints
# the URL to put in PLINTH_TEST_POSTGRES. Idempotent: a server already
# running in $PGDIR is reused. Installs Debian's postgresql when missing.
set -euo pipefail

PGDIR=${PGDIR:-/tmp/plinth-pg}
PGPORT=${PGPORT:-54329}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "installing postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

# PostgreSQL refuses to run as root: use the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PGDIR" postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PGDIR" postgres; chown postgres "$PGDIR"; }
  as_pg "$bindir/initdb" -D "$PGDIR/data" -U plinth --auth=trust -E UTF8 >/dev/null
fi
if ! as_pg "$bindir/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
  as_pg "$bindir/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
fi
as_pg "$bindir/psql" -h 127.0.0.1 -p "$PGPORT" -U plinth -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'plinth_test'" | grep -q 1 ||
  as_pg "$bindir/createdb" -h 127.0.0.1 -p "$PGPORT" -U plinth plinth_test
echo "postgres://plinth@127.0.0.1:$PGPORT/plinth_test?sslmode=disable"
