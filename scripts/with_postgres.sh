#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server: a new cluster (initdb) in a temporary folder, listening on
# 127.0.0.1 and a free port, with password authentication over TCP. The command finds it in $EFSEARCH_TEST_POSTGRES
# (postgresql://efsearch:PASSWORD@127.0.0.1:PORT/postgres, a superuser that may create databases). The server is
# stopped and its folder removed when the command ends, whether it passed or not; the command's exit code is kept.
# The server refuses to run as root, so as root it runs as the `postgres` user that Debian's package creates.
#   scripts/with_postgres.sh swift test -c release
set -euo pipefail
if [ $# -eq 0 ]; then echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "with_postgres: no PostgreSQL server under /usr/lib/postgresql (install Debian's postgresql: make testdeps)" >&2
    exit 1
fi

folder=$(mktemp -d /tmp/efsearch-postgres.XXXXXX)
as_server() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "with_postgres: running as root needs the postgres user (Debian's postgresql package makes it)" >&2; exit 1; }
    chown postgres "$folder"
    as_server() { runuser -u postgres -- "$@"; }
fi
chmod 755 "$folder"

stop() {
    as_server "$bindir/pg_ctl" -D "$folder/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$folder"
}
trap stop EXIT

password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
echo "$password" > "$folder/password"
chmod 644 "$folder/password"
as_server "$bindir/initdb" -D "$folder/data" -U efsearch --pwfile="$folder/password" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C >"$folder/initdb.log" 2>&1 || { cat "$folder/initdb.log" >&2; exit 1; }

# A free port: bind port 0 and read what the kernel gave (a small race with other programs, retried below).
for attempt in 1 2 3; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # fsync off: the cluster is thrown away. 300 connections: the tests start 32 workers at once, each with its own.
    if as_server "$bindir/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $folder -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null; then
        started=1
        break
    fi
    started=0
done
if [ "$started" != 1 ]; then
    echo "with_postgres: the server did not start:" >&2
    cat "$folder/server.log" >&2 || true
    exit 1
fi

export EFSEARCH_TEST_POSTGRES="postgresql://efsearch:$password@127.0.0.1:$port/postgres"
echo "with_postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($folder)" >&2
set +e
"$@"
status=$?
set -e
exit $status
