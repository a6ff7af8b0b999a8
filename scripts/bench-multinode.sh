#!/usr/bin/env bash
# Queue benchmark for node agents: page tasks claimed and completed per
# second by 1, 2, 4 and 8 `pagemill agent --bench-noop` processes, on
# PostgreSQL and on SQLite. The queue alone: no-op agents complete every
# page they claim at once, with empty metrics (one claim of up to 64 pages,
# pm_task_claim_n, then one completion, with its billable row, per page).
#
# usage: scripts/bench-multinode.sh [--build DIR] [--work DIR] [--pages N]
#                                   [--jobs N] [--agents "1 2 4 8"]
#                                   [--durable] [--no-sqlite]
#
#   --build DIR    where the pagemill binary is (default: build)
#   --work DIR     scratch/results dir (default: a new mktemp dir, kept)
#   --pages N      page tasks per run (default 20000)
#   --jobs N       jobs they are spread over (default 100)
#   --agents LIST  agent counts to run (default "1 2 4 8")
#   --durable      PostgreSQL with fsync and synchronous commit on (default
#                  off, as the tests run it: the queue's CPU cost, not the
#                  disk's)
#   --no-sqlite    PostgreSQL only
#
# Each run starts from a fresh database (PostgreSQL: a private server on
# 127.0.0.1, started here from /usr/lib/postgresql/*/bin or PM_PG_BINDIR,
# as `nobody` when run as root; SQLite: a new file) holding account ACME,
# work order WO-1 (made with `pagemill account add` / `workorder add`) and
# the jobs' page tasks (inserted in SQL), starts the agents together and
# times them until every page is done (polled every 0.2 s). The rate is
# pages / that time, so it includes the agents' start (a few ms each).
# Results: a table on stdout and in WORK/bench-multinode.md.

set -euo pipefail
shopt -s inherit_errexit

usage() {
    sed -n '7,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=bench-multinode
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"
# shellcheck source=scripts/bench-pg.sh
source "$SCRIPT_DIR/bench-pg.sh"

BUILD=$ROOT/build
WORK=
PAGES=20000
JOBS=100
AGENTS="1 2 4 8"
DURABLE=0
NO_SQLITE=0
bench_parse_args "--build=BUILD --work=WORK --pages=PAGES --jobs=JOBS \
    --agents=AGENTS --durable!DURABLE --no-sqlite!NO_SQLITE" "$@"
[[ $PAGES =~ ^[1-9][0-9]*$ ]] || die "--pages must be a positive number"
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number"
((PAGES % JOBS == 0)) || die "--pages must be a multiple of --jobs"
bench_resolve_dirs
PER_JOB=$((PAGES / JOBS))

AGENT_PIDS=()

cleanup() {
    for p in "${AGENT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || :; done
    bench_pg_stop
    wait 2>/dev/null || :
}
trap cleanup EXIT

PG_URL() { bench_pg_url bench; }

pg_sql() { psql -qAt -v ON_ERROR_STOP=1 "$(PG_URL)" -c "$1"; }

# fresh_catalog KIND: an empty catalog with ACME, WO-1 and the page tasks;
# prints its URL or path.
fresh_catalog() {
    local cat
    if [[ $1 == pg ]]; then
        bench_pg_createdb bench
        cat=$(PG_URL)
    else
        cat=$WORK/catalog.db
        rm -f "$cat" "$cat-wal" "$cat-shm"
    fi
    if [[ $1 == pg ]]; then
        # `account add` needs the billing side, not ported yet: the
        # schema from an agent's open (it migrates), the account and work
        # order in SQL.
        PAGEMILL_LOG=warn "$PAGEMILL" agent --config "$WORK/bench.ini" \
            --catalog "$cat" --bench-noop >>"$WORK/migrate.log" 2>&1 &
        local mig=$!
        until [[ $(pg_sql "SELECT count(*) FROM pg_tables WHERE
            tablename = 'schema_migrations'" 2>/dev/null) == 1 &&
            $(pg_sql "SELECT count(*) FROM schema_migrations" 2>/dev/null) -ge 6 ]]; do
            sleep 0.2
        done
        kill -TERM "$mig"
        wait "$mig" || die "agent: $WORK/migrate.log"
        pg_sql "INSERT INTO accounts (code, name, created_at)
            VALUES ('ACME', 'Acme', 0)"
        pg_sql "INSERT INTO work_orders (number, account_id, created_at)
            SELECT 'WO-1', id, 0 FROM accounts"
    else
        "$PAGEMILL" account add ACME --name Acme --catalog "$cat" >/dev/null 2>&1
        "$PAGEMILL" workorder add WO-1 --account ACME --catalog "$cat" >/dev/null 2>&1
    fi
    local jobs="INSERT INTO jobs (workorder, account, profile, batch, state,
        pages, created_at, updated_at)
        SELECT 'WO-1', 'ACME', 'default', 'b' || g, 'queued', $PER_JOB, g, g
        FROM s WHERE g <= $JOBS"
    local tasks="INSERT INTO page_tasks (job, page, src, frame, sha256)
        SELECT j.id, s.g, '/dev/null', 0,
        '$(printf '0%.0s' $(seq 64))' FROM jobs j, s WHERE s.g <= $PER_JOB"
    local series="WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1
        FROM s WHERE g < $((JOBS > PER_JOB ? JOBS : PER_JOB)))"
    if [[ $1 == pg ]]; then
        pg_sql "$series $jobs" && pg_sql "$series $tasks"
    else
        sqlite3 "$cat" "$series $jobs; $series $tasks;"
    fi
    printf '%s' "$cat"
}

done_count() {
    if [[ $1 == pg ]]; then
        pg_sql "SELECT count(*) FROM page_tasks WHERE state = 'done'"
    else
        sqlite3 "$2" "SELECT count(*) FROM page_tasks WHERE state = 'done'"
    fi
}

# CPU seconds used by the server's exited backends so far (the
# postmaster's children's user + system time).
pg_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($16 + $17) / hz }' \
        "/proc/$(head -1 "$PG_DIR/data/postmaster.pid")/stat"
}

# run KIND N: prints the pages per second of N agents, the seconds, and
# the CPU milliseconds per page of the agents and (PostgreSQL) of their
# server backends: a figure the machine's load does not change much.
run() {
    local kind=$1 n=$2 cat t0 t1 i cpu0
    cat=$(fresh_catalog "$kind")
    cpu0=$([[ $kind == pg ]] && pg_cpu || echo 0)
    AGENT_PIDS=()
    t0=$(date +%s.%N)
    for i in $(seq "$n"); do
        PAGEMILL_LOG=warn "$PAGEMILL" agent --config "$WORK/bench.ini" \
            --catalog "$cat" --node "bench$i" --bench-noop \
            >>"$WORK/agents-$kind-$n.log" 2>&1 &
        AGENT_PIDS+=($!)
    done
    while [[ $(done_count "$kind" "$cat") -lt $PAGES ]]; do
        sleep 0.2
        [[ $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print (b - a > 600) }') == 0 ]] ||
            die "not done within 600 s: $WORK/agents-$kind-$n.log"
        for p in "${AGENT_PIDS[@]}"; do
            kill -0 "$p" 2>/dev/null || die "an agent died: $WORK/agents-$kind-$n.log"
        done
    done
    t1=$(date +%s.%N)
    local agent_cpu=0
    for p in "${AGENT_PIDS[@]}"; do
        agent_cpu=$(awk -v s="$agent_cpu" -v hz="$(getconf CLK_TCK)" \
            '{ print s + ($14 + $15) / hz }' "/proc/$p/stat")
    done
    for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p"; done
    for p in "${AGENT_PIDS[@]}"; do wait "$p" || die "agent exit: $WORK/agents-$kind-$n.log"; done
    AGENT_PIDS=()
    local billed
    if [[ $kind == pg ]]; then
        billed=$(pg_sql "SELECT count(*) FROM billable_pages")
    else
        billed=$(sqlite3 "$cat" "SELECT count(*) FROM billable_pages")
    fi
    [[ $billed -eq $PAGES ]] || die "$billed billable rows for $PAGES pages"
    local server_cpu=0
    if [[ $kind == pg ]]; then
        sleep 1 # the backends exit after their agents
        server_cpu=$(awk -v a="$cpu0" -v b="$(pg_cpu)" 'BEGIN { print b - a }')
    fi
    awk -v p="$PAGES" -v a="$t0" -v b="$t1" -v ac="$agent_cpu" -v sc="$server_cpu" \
        'BEGIN { printf "%.0f %.2f %.3f %.3f\n", p / (b - a), b - a, ac * 1000 / p, sc * 1000 / p }'
}

if ((DURABLE)); then bench_pg_start --durable; else bench_pg_start; fi
printf '[pagemill]\nspool = %s/spool\noutput = %s/out\n' "$WORK" "$WORK" \
    >"$WORK/bench.ini"
OUT=$WORK/bench-multinode.md
{
    echo "# Queue: no-op page tasks per second ($PAGES pages in $JOBS jobs)"
    echo
    echo "$(nproc) cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg);"
    echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}')," \
        "$( ((DURABLE)) && echo durable || echo 'fsync and synchronous commit off')"
    echo
    echo "| backend | agents | pages/s | seconds | agent CPU ms/page | server CPU ms/page |"
    echo "|---------|-------:|--------:|--------:|------------------:|-------------------:|"
} | tee "$OUT"
for kind in pg sqlite; do
    [[ $kind == sqlite ]] && ((NO_SQLITE)) && continue
    for n in $AGENTS; do
        read -r rate secs acpu scpu < <(run "$kind" "$n")
        printf '| %s | %d | %d | %.2f | %.3f | %s |\n' \
            "$([[ $kind == pg ]] && echo PostgreSQL || echo SQLite)" "$n" \
            "$rate" "$secs" "$acpu" "$([[ $kind == pg ]] && echo "$scpu" || echo -)" |
            tee -a "$OUT"
    done
done
