#!/usr/bin/env bash
# bench-http.sh: the web interface under load while the service converts.
#
#   scripts/bench-http.sh [--build DIR] [--work DIR] [--pages N]
#                         [--batch-size N] [--rate R] [--conns C]
#
#   --build DIR       the build with the pagemill binary (default build/)
#   --work DIR        work folder (default a new /tmp/bench-http.XXXXXX)
#   --pages N         synthetic pages per run (default 60)
#   --batch-size N    pages per batch (default 10)
#   --rate R          /api/v1/status requests per second (default 200)
#   --conns C         wrk connections (default 4)
#
# In one run, against one `pagemill serve` (workers = 2, the default
# profile, [http] on 127.0.0.1 only), after a 2-page warm-up, three runs
# of N synthetic letter
# pages at 200 dpi (scripts/bench-synth.c, every page different) dropped
# as batches into its hot folder and timed until every job is done:
#   1. no HTTP load;
#   2. wrk on /api/v1/status with a supervisor token, C connections each
#      pausing C/R s between requests (about R requests/s), for the run;
#   3. no HTTP load again.
# It prints pages/s of each run, the cost of the load (run 2 against the
# mean of runs 1 and 3), wrk's latency percentiles and its request rate.
# Traffic goes to 127.0.0.1 only.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=bench-http
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh" # die, log, bench_compile

BUILD=$ROOT/build WORK= PAGES=60 BATCH=10 RATE=200 CONNS=4
while [[ $# -gt 0 ]]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --pages) PAGES=$2; shift 2 ;;
    --batch-size) BATCH=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
for v in PAGES BATCH RATE CONNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive number"
done
command -v wrk >/dev/null || die "needs wrk (scripts/install-deps.sh)"
command -v jq >/dev/null || die "needs jq (scripts/install-deps.sh)"
PAGEMILL=$(cd "$BUILD" && pwd)/pagemill
[[ -x $PAGEMILL ]] || die "no pagemill binary in $BUILD (build it first)"
[[ -n $WORK ]] || WORK=$(mktemp -d /tmp/bench-http.XXXXXX)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
rm -rf "$WORK/svc" "$WORK/pages"
SVC=$WORK/svc
mkdir -p "$SVC/hot" "$WORK/pages"
export OMP_THREAD_LIMIT=1

bench_compile bench-synth
for run in 1 2 3; do
    mkdir -p "$WORK/pages/$run"
    "$WORK/bin/bench-synth" "$WORK/pages/$run" $(((run - 1) * PAGES)) "$PAGES" \
        1700 2200 200 >/dev/null
done
mkdir -p "$WORK/pages/0" # the warm-up: workers started, engines loaded
"$WORK/bin/bench-synth" "$WORK/pages/0" $((3 * PAGES)) 2 1700 2200 200 >/dev/null

cat >"$SVC/pagemill.ini" <<EOF
[pagemill]
workers = 2
page_timeout = 600
catalog = $SVC/catalog.db
spool = $SVC/spool
output = $SVC/out

[http]
listen = 127.0.0.1:0

[hotfolder scans]
path = $SVC/hot
marker = batch.ini
EOF
pm() { "$PAGEMILL" "$@" --config "$SVC/pagemill.ini"; }
pm account add ACME --name 'Bench' >/dev/null
pm workorder add WO-1 --account ACME >/dev/null
TOKEN=$(pm token add --role supervisor --name bench | head -1)

"$PAGEMILL" serve --config "$SVC/pagemill.ini" 2>"$SVC/serve.log" &
SERVE=$!
WRK=
cleanup() {
    [[ -n $WRK ]] && kill "$WRK" 2>/dev/null || true
    kill -TERM "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null || true
}
trap cleanup EXIT
PORT=
for _ in $(seq 600); do
    PORT=$(sed -n 's#.*listening on http://127\.0\.0\.1:\([0-9]*\).*#\1#p' \
        "$SVC/serve.log" | head -1)
    [[ -n $PORT ]] && break
    kill -0 "$SERVE" 2>/dev/null || die "serve exited: $(tail -5 "$SVC/serve.log")"
    sleep 0.1
done
[[ -n $PORT ]] || die "serve did not say where it listens ($SVC/serve.log)"
log "serve pid $SERVE on 127.0.0.1:$PORT"

# drop RUN: the run's pages as batches WO-1_rRUN_K, each copied under a
# hidden name with its marker, then renamed into the hot folder.
drop() {
    local run=$1 k=0 i=0 dir f
    for f in "$WORK/pages/$run"/*; do
        if ((i % BATCH == 0)); then
            k=$((k + 1))
            dir=$SVC/hot/.WO-1_r${run}_$k
            mkdir -p "$dir"
        fi
        cp "$f" "$dir/"
        i=$((i + 1))
    done
    for dir in "$SVC/hot"/.WO-1_r"${run}"_*; do
        : >"$dir/batch.ini"
        mv "$dir" "$SVC/hot/${dir##*/.}"
    done
    echo "$k"
}

# timed_run RUN: drops the run's batches and waits until all are done;
# prints the seconds taken.
timed_run() {
    local run=$1 n t0 done_n
    t0=$(date +%s.%N)
    n=$(drop "$run")
    while :; do
        done_n=$(pm job list --json | jq --arg p "WO-1_r${run}_" \
            '[.[] | select((.batch // "") | startswith($p)) | select(.state == "done")] | length')
        ((done_n == n)) && break
        kill -0 "$SERVE" 2>/dev/null || die "serve exited during run $run"
        sleep 0.2
    done
    echo "$(date +%s.%N) - $t0" | bc -l
}

DELAY_MS=$((CONNS * 1000 / RATE))
cat >"$WORK/delay.lua" <<EOF
function delay() return $DELAY_MS end
EOF

log "warm-up: 2 pages"
timed_run 0 >/dev/null
log "run 1: $PAGES pages, no HTTP load"
T1=$(timed_run 1)
log "run 2: $PAGES pages, wrk on /api/v1/status at about $RATE requests/s"
wrk -t 1 -c "$CONNS" -d 3600s --latency -s "$WORK/delay.lua" \
    -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT/api/v1/status" >"$WORK/wrk.txt" 2>&1 &
WRK=$!
T2=$(timed_run 2)
kill -INT "$WRK"
wait "$WRK" || true
WRK=
log "run 3: $PAGES pages, no HTTP load"
T3=$(timed_run 3)

p() { sed -n "s/^ *$1% *\([0-9.]*[a-z]*\)$/\1/p" "$WORK/wrk.txt"; }
REQS=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$WORK/wrk.txt")
NON2XX=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\)/\1/p' "$WORK/wrk.txt")
printf '\n%-24s %8s %8s %8s\n' run pages seconds pages/s
for run in 1 2 3; do
    t=$(eval echo "\$T$run")
    printf '%-24s %8d %8.1f %8.3f\n' \
        "$([[ $run == 2 ]] && echo "$run (status load)" || echo "$run (no load)")" \
        "$PAGES" "$t" "$(echo "$PAGES / $t" | bc -l)"
done
printf '\nload cost: %.1f%% of conversion throughput (run 2 against the mean of 1 and 3)\n' \
    "$(echo "(1 - (($T1 + $T3) / 2) / $T2) * 100" | bc -l)"
printf '/api/v1/status under conversion: %s requests/s, latency p50 %s p90 %s p99 %s, non-2xx %s\n' \
    "${REQS:-?}" "$(p 50)" "$(p 90)" "$(p 99)" "${NON2XX:-0}"
echo "wrk output: $WORK/wrk.txt; service log: $SVC/serve.log"
