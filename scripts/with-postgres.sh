#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server (Debian's package) on a private unix socket,
# exporting PREREVIEW_TEST_POSTGRES_URL for the store tests; the server stops when the command ends.
set -euo pipefail
# (|| true: with pipefail, a failed ls would end the script before the message below)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$PGBIN" ]; then
  echo "PostgreSQL server not installed (apt-get install postgresql): the PostgreSQL cases of the store tests fail under make test (PREREVIEW_REQUIRE_POSTGRES=1)" >&2
  exec "$@"
fi
RUNDIR=$(mktemp -d /tmp/prereview-pg.XXXXXX)
chmod 755 "$RUNDIR"
AS=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres:postgres "$RUNDIR"
  AS=(runuser -u postgres --)
fi
cleanup() {
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$RUNDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT   # so that Ctrl-C and kill still stop the server (the EXIT trap runs)
trap 'exit 143' TERM
"${AS[@]}" "$PGBIN/initdb" -D "$RUNDIR/data" -U prereview --auth=trust -E UTF8 >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$RUNDIR/data" -l "$RUNDIR/log" -w \
  -o "-c listen_addresses='' -k $RUNDIR -c fsync=off" start >/dev/null
export PREREVIEW_TEST_POSTGRES_URL="postgresql+psycopg://prereview@/postgres?host=$RUNDIR"
"$@"
