# Starts a PostgreSQL 15 server (Debian's binaries) for the program, and prints its port.
# As root, the server runs as the `postgres` user. The admin pgstack connects as is a
# managed-Postgres-like role (LOGIN CREATEROLE CREATEDB, no superuser). Secrets come from the
# environment, never from a command line.
set -eu
BIN=/usr/lib/postgresql/15/bin
AS=""
mkdir -p "$DATA_ROOT"
if [ "$(id -u)" = 0 ]; then chown postgres "$DATA_ROOT"; AS="runuser -u postgres --"; fi
if [ ! -d "$DATA_ROOT/data" ]; then
  $AS $BIN/initdb -D "$DATA_ROOT/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
fi
$AS $BIN/pg_ctl -D "$DATA_ROOT/data" -l "$DATA_ROOT/server.log" -w \
  -o "-p $PORT -k $DATA_ROOT -c listen_addresses=127.0.0.1" start >/dev/null
printf "CREATE ROLE pgstack_admin LOGIN CREATEROLE CREATEDB PASSWORD '%s';\n" "$ADMIN_PASSWORD" |
  $AS $BIN/psql -X -q -v ON_ERROR_STOP=1 -h "$DATA_ROOT" -p "$PORT" -U postgres -d postgres >/dev/null
printf "%s" "$PORT"
