#!/usr/bin/env bash
# What a node agent asks of the PostgreSQL catalog per real page: the
# fixed batch (scripts/bench-pages.txt) converted by a pure coordinator
# (`local_workers = 0`) and one `pagemill agent` of 2 workers, on a
# private server with pg_stat_statements. The agent connects as a role of
# its own, so its statements are counted apart from the coordinator's.
# Reports the agent's statements per page, each statement's calls and
# server time, and its round trips per page (the completions it sent in
# one pipeline count once: the "completion call(s)" of its last log line;
# an agent without that line sent each on its own).
#
# usage: scripts/bench-agent-statements.sh [--build DIR] [--data DIR] [--work DIR]
#                                          [--agent EXE] [--quick] [--timeout S]
#
#   --build DIR    where the pagemill binary is (default: build)
#   --data DIR     the shared test data (default: ../shared/data)
#   --work DIR     scratch/results dir (default: a new mktemp dir, kept)
#   --agent EXE    the agent's binary (default: the build's), e.g. an
#                  older build to compare
#   --quick        first 4 pages of each class only
#   --timeout S    give up waiting for the batch after S seconds (default 1800)
set -euo pipefail

usage() {
    sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=bench-agent-statements
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"
# shellcheck source=scripts/bench-pg.sh
source "$SCRIPT_DIR/bench-pg.sh"

BUILD=$ROOT/build
DATA=$ROOT/../shared/data
WORK=
AGENT=
QUICK=0
TIMEOUT=1800
bench_parse_args "--build=BUILD --data=DATA --work=WORK --agent=AGENT
    --quick!QUICK --timeout=TIMEOUT" "$@"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[[ -d $DATA ]] || die "data dir not found: $DATA"
DATA=$(cd "$DATA" && pwd)
bench_resolve_dirs
AGENT=${AGENT:-$PAGEMILL}
[[ -x $AGENT ]] || die "no agent binary: $AGENT"
for tool in jq psql; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
export OMP_THREAD_LIMIT=1

PIDS=()
on_exit() {
    local rc=$? p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || :; done
    bench_pg_stop
    wait 2>/dev/null || :
    exit "$rc"
}
trap on_exit EXIT

mkdir -p "$WORK/logs"
bench_build_batch
rm -rf "$WORK/in/fixed"
mkdir -p "$WORK/in/fixed"
NPAGES=0
for c in bitonal gray skewed; do
    while IFS=$'\t' read -r f _ _; do
        cp "$f" "$WORK/in/fixed/"
        NPAGES=$((NPAGES + 1))
    done <"$WORK/lists/$c.tsv"
done
log "batch: $NPAGES pages"

bench_pg_start -c shared_preload_libraries=pg_stat_statements \
    -c pg_stat_statements.track_utility=on
sql() { psql -qAt -h 127.0.0.1 -p "$PG_PORT" -U postgres -F $'\t' -c "$1" postgres; }
sql "CREATE EXTENSION pg_stat_statements" >/dev/null
sql "CREATE ROLE agent LOGIN SUPERUSER" >/dev/null
bench_pg_createdb bench
URL=$(bench_pg_url bench)
AGENT_URL=${URL/postgres@/agent@}

DIR=$WORK/svc
CONF=$DIR/pagemill.ini
rm -rf "$DIR"
mkdir -p "$DIR/hot"
{
    printf '[pagemill]\nspool = %s/spool\noutput = %s/out\n' "$DIR" "$DIR"
    printf 'page_timeout = 300\nworker_memory_mb = 4096\nlocal_workers = 0\n'
    printf 'icc_profile = /usr/share/color/icc/sRGB.icc\n\n[catalog]\nurl = %s\n\n' "$URL"
    bench_profile_ini
    printf '\n[hotfolder scans]\npath = %s/hot\nprofile = default\n' "$DIR"
    printf 'marker = batch.ini\nhold_unknown = no\n'
} >"$CONF"
{
    "$PAGEMILL" account add BENCH --name Bench --config "$CONF"
    "$PAGEMILL" workorder add WO-1 --account BENCH --config "$CONF"
} >>"$WORK/logs/cli.log" 2>&1 || die "catalog setup failed: $WORK/logs/cli.log"

"$PAGEMILL" serve --config "$CONF" >"$WORK/logs/serve.log" 2>&1 &
PIDS=($!)
"$AGENT" agent --config "$CONF" --catalog "$AGENT_URL" --workers 2 --node node1 \
    >"$WORK/logs/agent.log" 2>&1 &
PIDS+=($!)
AGENT_PID=$!
for ((i = 0; ; i++)); do
    n=$("$PAGEMILL" status --json --config "$CONF" 2>/dev/null |
        jq '[.workers[]? | select(.state == "idle" and (.owner | startswith("agent:")))] | length' 2>/dev/null) || :
    [[ ${n:-0} -ge 2 ]] && break
    ((i < 1200)) || die "the agent's 2 workers not ready in 120 s ($WORK/logs)"
    sleep 0.1
done

sql "SELECT pg_stat_statements_reset()" >/dev/null
mkdir "$DIR/hot/.b.tmp"
cp "$WORK/in/fixed/"* "$DIR/hot/.b.tmp/"
printf 'work_order = WO-1\naccount = BENCH\nexpected_pages = %d\n' "$NPAGES" \
    >"$DIR/hot/.b.tmp/batch.ini"
T0=$(date +%s.%N)
mv "$DIR/hot/.b.tmp" "$DIR/hot/WO-1_b"
deadline=$(($(date +%s) + TIMEOUT))
until compgen -G "$DIR/out/BENCH/WO-1/job-*" >/dev/null; do
    (($(date +%s) < deadline)) || die "not published in $TIMEOUT s"
    sleep 0.1
done
T1=$(date +%s.%N)
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || :
STATS=$(sql "SELECT s.calls, round(s.total_exec_time::numeric, 1),
                    left(regexp_replace(s.query, '\s+', ' ', 'g'), 70)
             FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
             WHERE r.rolname = 'agent' ORDER BY s.calls DESC")
CALLS=$(grep -o '[0-9]* completion call(s)' "$WORK/logs/agent.log" | tail -1 | cut -d' ' -f1 || :)
DONE=$(grep -c ' done (attempt ' "$WORK/logs/agent.log" || :)

OUT=$WORK/bench-agent-statements.md
awk -F'\t' -v n="$NPAGES" -v done="$DONE" -v calls="${CALLS:--}" \
    -v secs="$(awk -v a="$T0" -v b="$T1" 'BEGIN { print b - a }')" '
    { q[NR] = $3; c[NR] = $1; t[NR] = $2; total += $1; ms += $2
      if ($3 ~ /^WITH f AS/) completes += $1
      if ($3 ~ /^DELETE FROM workers/) txs += $1
      if ($3 ~ /^DELETE FROM workers/ || $3 ~ /^WITH d AS \(DELETE FROM workers/) reports += $1
      if ($3 ~ /workers/) { wstmts += $1; wms += $2 } }
    END {
        printf "%d pages in %.1f s, the agent did %d; its statements (pg_stat_statements):\n\n", n, secs, done
        print "| calls | per page | server ms | statement |"
        print "|------:|---------:|----------:|-----------|"
        for (i = 1; i <= NR; i++)
            printf "| %d | %.2f | %.1f | `%s` |\n", c[i], c[i] / n, t[i], q[i]
        rt = calls == "-" ? total : total - completes + calls
        # The workers table: a report is one statement (WITH d AS (DELETE
        # ...) INSERT ...); an older agent sent a transaction (BEGIN, DELETE,
        # an INSERT a worker, COMMIT).
        w = wstmts + 2 * txs
        printf "\nall: %.2f statements, %.2f round trips, %.2f ms of server time per page\n", total / n, rt / n, ms / n
        printf "the workers table: %d reports in %.0f s, %d statements, %.1f ms\n", reports, secs, w, wms
        printf "the pages (all but the workers table): %.2f statements, %.2f round trips, %.2f ms per page\n", (total - w) / n, (rt - w) / n, (ms - wms) / n
        printf "completions: %d in %s call(s)\n", completes, calls
    }' <<<"$STATS" | tee "$OUT"
