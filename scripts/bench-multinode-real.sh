#!/usr/bin/env bash
# Real pages on two nodes: the fixed batch (scripts/bench-pages.txt)
# converted by `pagemill serve` with 2 local workers on a SQLite catalog,
# and by a pure coordinator (`local_workers = 0`) on a PostgreSQL catalog
# fed by 2 `pagemill agent` processes of 1 worker each: the same pages,
# the same profile, in the same run, alternating which goes first.
# Reports pages per second of each and their ratio (target: the agents at
# >= 0.95 x the single machine).
#
# usage: scripts/bench-multinode-real.sh [--build DIR] [--data DIR] [--work DIR]
#                                        [--runs N] [--quick] [--timeout S]
#
#   --build DIR    where the pagemill binary is (default: build)
#   --data DIR     the shared test data (default: ../shared/data)
#   --work DIR     scratch/results dir (default: a new mktemp dir, kept)
#   --runs N       pairs of runs (default 2)
#   --quick        first 4 pages of each class only; a smoke test
#   --timeout S    give up waiting for a batch after S seconds (default 1800)
#
# The time of a run is from the drop of the batch (renamed into the hot
# folder) until its job is published, polled every 0.1 s; both setups are
# started and their workers warm (all idle in `status --json`) first.
# "busy" is the page work the logs report (each page's ms) over 2 x the
# wall time: how well each setup keeps its 2 workers fed, a figure the
# machine's load changes less than the wall time (on a shared machine the
# pages themselves run slower or faster from one run to the next).
set -euo pipefail

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=bench-multinode-real
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"
# shellcheck source=scripts/bench-pg.sh
source "$SCRIPT_DIR/bench-pg.sh"

BUILD=$ROOT/build
DATA=$ROOT/../shared/data
WORK=
RUNS=2
QUICK=0
TIMEOUT=1800
bench_parse_args "--build=BUILD --data=DATA --work=WORK --runs=RUNS
    --quick!QUICK --timeout=TIMEOUT" "$@"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[[ -d $DATA ]] || die "data dir not found: $DATA"
DATA=$(cd "$DATA" && pwd)
bench_resolve_dirs
for tool in jq psql pkg-config; do
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

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---- the batch ----
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
log "batch: $NPAGES pages in $WORK/in/fixed"

bench_pg_start

# setup_conf KIND: WORK/svc-KIND/pagemill.ini, a fresh catalog with the account
# and work order. sqlite: 2 local workers; pg: a pure coordinator.
setup_conf() {
    local kind=$1 dir=$WORK/svc-$1 catalog
    rm -rf "$dir"
    mkdir -p "$dir/hot"
    if [[ $kind == pg ]]; then
        bench_pg_createdb bench
        catalog="local_workers = 0

[catalog]
url = $(bench_pg_url bench)"
    else
        catalog="workers = 2
catalog = $dir/catalog.db"
    fi
    {
        printf '[pagemill]\nspool = %s/spool\noutput = %s/out\n' "$dir" "$dir"
        printf 'page_timeout = 300\nworker_memory_mb = 4096\n'
        printf 'icc_profile = /usr/share/color/icc/sRGB.icc\n%s\n\n' "$catalog"
        bench_profile_ini
        printf '\n[hotfolder scans]\npath = %s/hot\nprofile = default\n' "$dir"
        printf 'marker = batch.ini\nhold_unknown = no\n'
    } >"$dir/pagemill.ini"
    {
        "$PAGEMILL" account add BENCH --name Bench --config "$dir/pagemill.ini"
        "$PAGEMILL" workorder add WO-1 --account BENCH --config "$dir/pagemill.ini"
    } >>"$WORK/logs/cli.log" 2>&1 || die "catalog setup failed: $WORK/logs/cli.log"
}

# idle_workers CONF: workers the catalog shows idle.
idle_workers() {
    local js n
    js=$("$PAGEMILL" status --json --config "$1" 2>/dev/null) || :
    n=$(jq '[.workers[]? | select(.state == "idle")] | length' <<<"$js" 2>/dev/null) || :
    echo "${n:-0}"
}

# start KIND R: serve (and for pg two agents of 1 worker), warm.
start() {
    local kind=$1 conf=$WORK/svc-$1/pagemill.ini i n
    "$PAGEMILL" serve --config "$conf" >"$WORK/logs/serve-$kind-$2.log" 2>&1 &
    PIDS=($!)
    if [[ $kind == pg ]]; then
        for i in 1 2; do
            "$PAGEMILL" agent --config "$conf" --workers 1 --node "node$i" \
                >"$WORK/logs/agent$i-$2.log" 2>&1 &
            PIDS+=($!)
        done
    fi
    for ((i = 0; i < 1200; i++)); do
        n=$(idle_workers "$conf")
        [[ $n -ge 2 ]] && return 0
        for p in "${PIDS[@]}"; do
            kill -0 "$p" 2>/dev/null || die "$kind: a process died (logs in $WORK/logs)"
        done
        sleep 0.1
    done
    die "$kind: 2 workers not ready in 120 s (logs in $WORK/logs)"
}

stop() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || :; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || :; done
    PIDS=()
}

# page_ms LOG...: the sum of the page times the logs report ("N ms").
page_ms() {
    cat "$@" | awk '/ done \(attempt [0-9]+\): / {
        if (match($0, /words, [0-9]+ ms/)) s += substr($0, RSTART + 7, RLENGTH - 10)
    } END { printf "%d", s }'
}

# run KIND R: prints the seconds from the drop until the job is published
# and the page work's milliseconds.
run() {
    local kind=$1 dir=$WORK/svc-$1 t0 t1 deadline
    setup_conf "$kind"
    start "$kind" "$2"
    mkdir "$dir/hot/.b.tmp"
    cp "$WORK/in/fixed/"* "$dir/hot/.b.tmp/"
    printf 'work_order = WO-1\naccount = BENCH\nexpected_pages = %d\n' "$NPAGES" \
        >"$dir/hot/.b.tmp/batch.ini"
    t0=$(now)
    mv "$dir/hot/.b.tmp" "$dir/hot/WO-1_r$2"
    deadline=$(($(date +%s) + TIMEOUT))
    while :; do
        if compgen -G "$dir/out/BENCH/WO-1/job-*" >/dev/null; then
            t1=$(now)
            break
        fi
        (($(date +%s) < deadline)) || die "$kind: not published in $TIMEOUT s"
        [[ -d $dir/hot/_rejected ]] && die "$kind: the batch was rejected"
        sleep 0.1
    done
    local job state ndone
    read -r job state ndone < <("$PAGEMILL" job list --json --config "$dir/pagemill.ini" |
        jq -r '.[0] | "\(.id) \(.state) \(.done)"')
    [[ $state == "done" && $ndone -eq $NPAGES ]] ||
        die "$kind: job $job is $state with $ndone of $NPAGES pages done"
    stop
    local -a logs=("$WORK/logs/serve-$kind-$2.log")
    [[ $kind == pg ]] && logs+=("$WORK/logs/agent1-$2.log" "$WORK/logs/agent2-$2.log")
    echo "$(secs "$t0" "$t1") $(page_ms "${logs[@]}")"
}

OUT=$WORK/bench-multinode-real.md
{
    echo "# Real pages: 2 agents x 1 worker (PostgreSQL) vs serve with 2 workers (SQLite)"
    echo
    echo "$NPAGES pages (scripts/bench-pages.txt$( ((QUICK)) && echo ', --quick')), $(env -u OMP_THREAD_LIMIT nproc) cores," \
        "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| run | SQLite serve s | PostgreSQL agents s | SQLite pages/s | agents pages/s | agents / serve | serve busy | agents busy |"
    echo "|----:|---------------:|--------------------:|---------------:|---------------:|---------------:|-----------:|------------:|"
} | tee "$OUT"
RATIOS=()
for ((r = 1; r <= RUNS; r++)); do
    if ((r % 2)); then
        read -r s_sec s_ms < <(run sqlite "$r")
        read -r p_sec p_ms < <(run pg "$r")
    else
        read -r p_sec p_ms < <(run pg "$r")
        read -r s_sec s_ms < <(run sqlite "$r")
    fi
    ratio=$(awk -v s="$s_sec" -v p="$p_sec" 'BEGIN { printf "%.2f", s / p }')
    RATIOS+=("$ratio")
    awk -v r="$r" -v s="$s_sec" -v p="$p_sec" -v n="$NPAGES" -v q="$ratio" \
        -v sm="$s_ms" -v pm="$p_ms" 'BEGIN { printf "| %d | %.2f | %.2f | %.3f | %.3f | %s | %.1f%% | %.1f%% |\n",
            r, s, p, n / s, n / p, q, sm / 20 / s, pm / 20 / p }' |
        tee -a "$OUT"
done
MEDIAN=$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ a[NR] = $1 } END {
    print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
{
    echo
    echo "agents / serve, median of $RUNS: $MEDIAN (target >= 0.95:" \
        "$(awk -v m="$MEDIAN" 'BEGIN { print (m >= 0.95) ? "met" : "NOT met" }'))"
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$OUT"
