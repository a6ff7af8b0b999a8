# shellcheck shell=bash
# bench-pg.sh: a private PostgreSQL server for the benchmark scripts.
# Sourced after bench-lib.sh, once WORK is set:
#
#   source "$SCRIPT_DIR/bench-pg.sh"
#   bench_pg_start [--durable] [-c NAME=VALUE...]
#                                # initdb into WORK/pg, listen on 127.0.0.1,
#                                # with further server settings
#   bench_pg_url DB              # postgresql://postgres@127.0.0.1:PORT/DB
#   bench_pg_stop                # by the postmaster's pid (also on exit
#                                # when the caller's trap calls it)
#
# As root the server runs as `nobody`. Durability is off unless --durable
# (fsync, full-page writes and synchronous commit off: the benchmarks
# measure the queue, not the disk).

PG_BIN=${PM_PG_BINDIR:-$(dirname "$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -1)")}
PG_DIR=
PG_PORT=

bench_pg_start() {
    local -a durable=(-c fsync=off -c full_page_writes=off -c synchronous_commit=off)
    local -a as=()
    [[ ${1:-} == --durable ]] && durable=() && shift
    [[ -x $PG_BIN/postgres ]] || die "no PostgreSQL server (scripts/install-deps.sh)"
    PG_DIR=$WORK/pg
    PG_PORT=$((20000 + RANDOM % 20000))
    [[ $(id -u) -eq 0 ]] && as=(runuser -u nobody --)
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    [[ ${#as[@]} -gt 0 ]] && chown nobody "$PG_DIR"
    "${as[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust \
        >"$WORK/initdb.log" 2>&1 || die "initdb failed: $WORK/initdb.log"
    "${as[@]}" "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories="$PG_DIR" \
        -c max_connections=40 "${durable[@]}" "$@" >"$WORK/postgres.log" 2>&1 &
    for _ in $(seq 600); do
        psql -qAt -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 'SELECT 1' \
            postgres >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "PostgreSQL did not start: $WORK/postgres.log"
}

bench_pg_url() { printf 'postgresql://postgres@127.0.0.1:%s/%s' "$PG_PORT" "$1"; }

# The postmaster itself (PG_PID may be runuser, which does not pass
# signals on).
bench_pg_stop() {
    [[ -n $PG_DIR && -f $PG_DIR/data/postmaster.pid ]] &&
        kill -INT "$(head -1 "$PG_DIR/data/postmaster.pid")" 2>/dev/null || :
}

# bench_pg_createdb DB: a new empty database DB (dropped first).
bench_pg_createdb() {
    PGOPTIONS='-c client_min_messages=warning' psql -qAt -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres \
        -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null ||
        die "cannot create database $1"
}
