#!/usr/bin/env bash
# Service benchmark: `pagemill serve` from hot-folder drop to published
# outputs, against `pagemill convert` on the same pages in the same run.
#
# usage: scripts/bench-service.sh [--build DIR] [--data DIR] [--work DIR] [--quick]
#                                 [--synth N] [--batch-size N] [--timeout S]
#                                 [--stream N] [--stream-only]
#
#   --build DIR       where the pagemill binary is (default: build, in the repo root)
#   --data DIR        the shared test data (default: ../shared/data from the repo root)
#   --work DIR        scratch/results dir (default: a new mktemp dir, kept afterwards)
#   --quick           fixed batch: first 4 pages of each class only; smoke test
#   --synth N         synthetic small pages for the long run (default 1000; 0: none)
#   --batch-size N    synthetic pages per batch (default 100)
#   --timeout S       give up waiting for a drop after S seconds (default 1800)
#   --stream N        the stream: the fixed batch dealt into N batches (default 6;
#                     0: none), dropped together, against OCRmyPDF on the same
#                     batches as documents, one after the other
#   --stream-only     only the stream (no convert runs, fixed drop or synthetic pages)
#
# What it does, all in one run:
#   1. builds the fixed batch of scripts/bench-pages.txt (the convert
#      benchmark's 30 pages, skewed copies included; scripts/bench-lib.sh)
#      into one folder, WORK/in/fixed, and N synthetic 600x400 1 bpp G4 pages
#      at 300 dpi with a few lines of text (scripts/bench-synth.c) into
#      batches of --batch-size pages;
#   2. sets up a service root WORK/svc (config with catalog, spool, output, one
#      hot folder with marker batch.ini, workers = 2, the sample config's
#      default profile) and creates account BENCH and two work orders with
#      the CLI;
#   3. times `pagemill convert --jobs 2 --config CONF` on WORK/in/fixed (one
#      folder = one document), then starts `pagemill serve` in the
#      background; convert runs again right after the service's drop below
#      (the machine's load drifts; the ratio is taken against the mean of
#      the two convert runs);
#   4. drops the fixed batch: copied into the hot folder under a hidden temp
#      name, batch.ini written last, then renamed to WO-BENCH-FIXED; the clock
#      runs from the rename until the job's published folder
#      (output/BENCH/WO-BENCH-FIXED/job-<id>) exists, and `pagemill job list
#      --json` is polled until the job is done;
#   5. drops the synthetic batches the same way in two waves (first half, then
#      the rest), each timed from the first rename to the last published
#      folder;
#   6. reads the coordinator's own CPU (utime+stime of the serve process, not
#      its workers, /proc/PID/stat) and VmRSS (/proc/PID/status) at start,
#      around each drop and after each wave; stops the service with SIGTERM;
#   7. the stream: the fixed batch dealt round-robin into --stream batches of
#      mixed pages (work order WO-BENCH-STREAM), all dropped at once into the
#      running service and timed until the last is published; then OCRmyPDF
#      on the same batches the way its users make documents, one batch after
#      the other: img2pdf -o B.img.pdf PAGES..., then ocrmypdf --jobs 2 --deskew
#      --output-type pdfa --sidecar B.txt B.img.pdf B.pdf; where the service's
#      time went (stages from the published .pages.json, page work / 2 against
#      the wall time); the archival outputs' ms per page (TIFF master, ALTO,
#      bag and checksums: bench_archival) against the wall time per page;
#      uptime before and after;
#   8. prints the results and writes them as markdown to WORK/bench-service.md.

set -euo pipefail

usage() {
    sed -n '4,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=bench-service
# die, log, bench_parse_args, bench_resolve_dirs, bench_compile,
# bench_build_batch:
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"

BUILD=$ROOT/build
DATA=$ROOT/../shared/data
WORK=
QUICK=0
SYNTH=1000
BATCH_SIZE=100
TIMEOUT=1800
STREAM=6
STREAM_ONLY=0

bench_parse_args "--build=BUILD --data=DATA --work=WORK --quick!QUICK
    --synth=SYNTH --batch-size=BATCH_SIZE --timeout=TIMEOUT --stream=STREAM
    --stream-only!STREAM_ONLY" "$@"
[[ $STREAM =~ ^[0-9]+$ ]] || die "--stream must be a number of batches"
if [[ $STREAM_ONLY -eq 1 ]]; then
    [[ $STREAM -gt 0 ]] || die "--stream-only needs --stream N above 0"
    SYNTH=0
fi
[[ $SYNTH =~ ^[0-9]+$ ]] || die "--synth must be a number of pages"
[[ $BATCH_SIZE =~ ^[1-9][0-9]*$ ]] || die "--batch-size must be a positive number"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"

[[ -d $DATA ]] || die "data dir not found: $DATA"
DATA=$(cd "$DATA" && pwd)
bench_resolve_dirs # WORK, BUILD, PAGEMILL
"$PAGEMILL" serve --help >/dev/null 2>&1 || die "$PAGEMILL has no 'serve' command (rebuild it)"

for tool in jq cc pkg-config getconf; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
pkg-config --exists lept || die "needs the Leptonica development files (pkg-config lept)"

CLK_TCK=$(getconf CLK_TCK)
export OMP_THREAD_LIMIT=1

# Sleeping without a fork: read from a pipe that never has data.
exec {SLEEP_FD}<> <(:)
nap() { read -r -t "$1" -u "$SLEEP_FD" _ || :; }

# Float arithmetic: calc 'EXPR' (awk). Clock: microseconds, without a fork.
calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }
now_us() { NOW_US=${EPOCHREALTIME//[!0-9]/}; }
us_to_s() { calc "$1 / 1000000"; }

# ---------------------------------------------------------------------------
# 1. Pages: the fixed batch in one folder, the synthetic batches.
# ---------------------------------------------------------------------------
for d in out logs svc; do
    rm -rf "${WORK:?}/$d"
    mkdir -p "$WORK/$d"
done
bench_build_batch
mkdir -p "$WORK/in/fixed"
FIXED_PAGES=0
for c in bitonal gray skewed; do
    while IFS=$'\t' read -r f _ _; do
        cp "$f" "$WORK/in/fixed/"
        FIXED_PAGES=$((FIXED_PAGES + 1))
    done <"$WORK/lists/$c.tsv"
done
[[ $(find "$WORK/in/fixed" -type f | wc -l) -eq $FIXED_PAGES ]] ||
    die "two batch files share a name in $WORK/in/fixed"
log "fixed batch: $FIXED_PAGES pages in $WORK/in/fixed"

# The stream: the fixed batch's pages dealt round-robin into STREAM batches,
# so each batch mixes the classes (hard links: the same files).
STREAM_BATCHES=()
if [[ $STREAM -gt 0 ]]; then
    mkdir -p "$WORK/in/stream"
    k=0
    for c in bitonal gray skewed; do
        while IFS=$'\t' read -r f _ _; do
            b=$((k % STREAM + 1))
            name=$(printf 'WO-BENCH-STREAM_b%02d' "$b")
            mkdir -p "$WORK/in/stream/$name"
            ln "$f" "$WORK/in/stream/$name/$(printf 'p%03d' "$k")-${f##*/}"
            k=$((k + 1))
        done <"$WORK/lists/$c.tsv"
    done
    for ((b = 1; b <= STREAM && b <= k; b++)); do
        name=$(printf 'WO-BENCH-STREAM_b%02d' "$b")
        STREAM_BATCHES+=("$name:$(find "$WORK/in/stream/$name" -type f | wc -l)")
    done
    log "stream: $k pages in ${#STREAM_BATCHES[@]} batches under $WORK/in/stream"
fi

SYNTH_BATCHES=()
if [[ $SYNTH -gt 0 ]]; then
    bench_compile bench-synth
    mkdir -p "$WORK/in/synth"
    first=1 b=0
    while [[ $first -le $SYNTH ]]; do
        b=$((b + 1))
        n=$((SYNTH - first + 1))
        [[ $n -gt $BATCH_SIZE ]] && n=$BATCH_SIZE
        name=$(printf 'WO-BENCH-SYNTH_b%03d' "$b")
        mkdir -p "$WORK/in/synth/$name"
        "$WORK/bin/bench-synth" "$WORK/in/synth/$name" "$first" "$n" ||
            die "bench-synth failed"
        SYNTH_BATCHES+=("$name:$n")
        first=$((first + n))
    done
    log "synthetic: $SYNTH pages in ${#SYNTH_BATCHES[@]} batches under $WORK/in/synth"
fi

# ---------------------------------------------------------------------------
# 2. The service root and its configuration (workers = 2, the default
#    profile of config/pagemill.ini.sample).
# ---------------------------------------------------------------------------
SVC=$WORK/svc
HOT=$SVC/hot/scans
OUTPUT=$SVC/out
CONF=$SVC/pagemill.ini
mkdir -p "$HOT"
cat >"$CONF" <<EOF
; written by scripts/bench-service.sh
[pagemill]
workers = 2
page_timeout = 300
worker_memory_mb = 4096
icc_profile = /usr/share/color/icc/sRGB.icc
catalog = $SVC/catalog.db
spool = $SVC/spool
output = $OUTPUT

$(bench_profile_ini)

[hotfolder scans]
path = $HOT
profile = default
marker = batch.ini
hold_unknown = no
EOF
"$PAGEMILL" config check "$CONF" >"$WORK/logs/config-check.log" 2>&1 ||
    die "config check failed: $(cat "$WORK/logs/config-check.log")"

pm_cli() { "$PAGEMILL" "$@" --config "$CONF"; }
{
    pm_cli account add BENCH --name "Benchmark account"
    pm_cli workorder add WO-BENCH-FIXED --account BENCH --notes "fixed batch (bench-pages.txt)"
    pm_cli workorder add WO-BENCH-SYNTH --account BENCH --notes "synthetic small pages"
    pm_cli workorder add WO-BENCH-STREAM --account BENCH --notes "stream of batches"
} >"$WORK/logs/cli.log" 2>&1 || die "catalog setup failed (see $WORK/logs/cli.log)"

# ---------------------------------------------------------------------------
# 3. pagemill convert on the fixed batch, same profile, two workers.
# ---------------------------------------------------------------------------
BENCH_NPROC=$(env -u OMP_THREAD_LIMIT -u OMP_NUM_THREADS nproc)
BENCH_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
BENCH_PAGEMILL="$("$PAGEMILL" version 2>/dev/null | head -n1 || true), $PAGEMILL (built $(date -r "$PAGEMILL" '+%Y-%m-%d %H:%M'))"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# run_convert LABEL: times it into WORK/out/convert-LABEL; sets CONVERT_S.
run_convert() {
    local out=$WORK/out/convert-$1 rc=0 t0
    log "convert ($1): $FIXED_PAGES pages, pagemill convert --jobs 2"
    mkdir -p "$out"
    now_us
    t0=$NOW_US
    "$PAGEMILL" convert --jobs 2 --config "$CONF" --out "$out" "$WORK/in/fixed" \
        >"$WORK/logs/convert-$1.log" 2>&1 || rc=$?
    now_us
    [[ $rc -eq 0 ]] || die "pagemill convert exited with $rc (see $WORK/logs/convert-$1.log)"
    [[ -s $out/fixed.pdf && -s $out/fixed.pages.json ]] ||
        die "pagemill convert wrote no fixed.pdf / fixed.pages.json in $out"
    CONVERT_S=$(us_to_s $((NOW_US - t0)))
    log "convert ($1): $CONVERT_S s"
}
if [[ $STREAM_ONLY -eq 0 ]]; then
    run_convert before
    CONVERT1_S=$CONVERT_S
fi

# ---------------------------------------------------------------------------
# 4. The service.
# ---------------------------------------------------------------------------
SERVE_PID=
SERVE_LOG=$WORK/logs/serve.log

stop_serve() { # stop_serve SECONDS: SIGTERM, wait; status in SERVE_RC
    local i
    SERVE_RC=
    [[ -n $SERVE_PID ]] || return 0
    if kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -TERM "$SERVE_PID" 2>/dev/null || :
        for ((i = 0; i < $1 * 10; i++)); do
            kill -0 "$SERVE_PID" 2>/dev/null || break
            nap 0.1
        done
        if kill -0 "$SERVE_PID" 2>/dev/null; then
            echo "$BENCH_NAME: pagemill serve (pid $SERVE_PID) still running after SIGTERM + $1 s; SIGKILL" >&2
            kill -KILL "$SERVE_PID" 2>/dev/null || :
        fi
    fi
    SERVE_RC=0
    wait "$SERVE_PID" 2>/dev/null || SERVE_RC=$?
    SERVE_PID=
}
on_exit() {
    local rc=$?
    if [[ -n $SERVE_PID ]]; then
        echo "$BENCH_NAME: stopping pagemill serve (pid $SERVE_PID); its log: $SERVE_LOG" >&2
        stop_serve 30
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Coordinator CPU ticks (utime + stime of the process itself) and VmRSS.
coord_ticks() {
    local s
    read -r s <"/proc/$SERVE_PID/stat" || die "pagemill serve (pid $SERVE_PID) is gone"
    s=${s##*) }
    local -a f
    read -r -a f <<<"$s"
    echo $((f[11] + f[12]))
}
# CPU ticks of the service's workers (its child processes, utime + stime).
workers_ticks() {
    local pid s t=0
    local -a f
    for pid in $(ps -o pid= --ppid "$SERVE_PID"); do
        read -r s <"/proc/$pid/stat" 2>/dev/null || continue
        s=${s##*) }
        read -r -a f <<<"$s"
        t=$((t + f[11] + f[12]))
    done
    echo "$t"
}
# CPU ticks of this shell's waited-for children (cutime + cstime).
children_ticks() {
    local s
    local -a f
    read -r s <"/proc/$$/stat" # the script itself, not this subshell
    s=${s##*) }
    read -r -a f <<<"$s"
    echo $((f[13] + f[14]))
}
coord_rss_kb() {
    local k v
    while read -r k v _; do
        [[ $k == VmRSS: ]] && { echo "$v"; return; }
    done <"/proc/$SERVE_PID/status"
    die "no VmRSS for pid $SERVE_PID"
}

log "starting pagemill serve --config $CONF"
PAGEMILL_LOG=info "$PAGEMILL" serve --config "$CONF" >"$WORK/logs/serve.stdout" 2>"$SERVE_LOG" &
SERVE_PID=$!
for ((i = 0; i < 300; i++)); do
    grep -q ' serve started as ' "$SERVE_LOG" && break
    kill -0 "$SERVE_PID" 2>/dev/null || die "pagemill serve exited at start: $(tail -n 5 "$SERVE_LOG")"
    nap 0.1
done
grep -q ' serve started as ' "$SERVE_LOG" || die "pagemill serve did not start in 30 s"
# A running service is warm: wait until both workers are ready (they load
# Tesseract before they say so), as `pagemill status` shows them.
for ((i = 0; i < 600; i++)); do
    n=$(pm_cli status --json 2>/dev/null | jq '[.workers[]? | select(.state == "idle")] | length' || :)
    [[ ${n:-0} -ge 2 ]] && break
    nap 0.2
done
[[ ${n:-0} -ge 2 ]] || die "the workers of pagemill serve were not ready in 120 s"
RSS_START=$(coord_rss_kb)
log "serve pid $SERVE_PID running; coordinator RSS $RSS_START KiB"

# The jobs of work order $1 as TSV: id state batch pages done failed.
jobs_of() {
    pm_cli job list --json --work-order "$1" 2>>"$WORK/logs/cli.log" |
        jq -r '.[] | [.id, .state, .batch, .pages, .done, .failed] | @tsv'
}

# stage NAME SRC WO PAGES: copy SRC into HOT/.NAME.tmp, batch.ini last.
stage() {
    local tmp=$HOT/.$1.tmp
    rm -rf "$tmp"
    mkdir "$tmp"
    cp "$2"/* "$tmp/"
    printf 'work_order = %s\naccount = BENCH\noperator = bench-service\nexpected_pages = %s\n' \
        "$3" "$4" >"$tmp/batch.ini"
}
# drop NAME: rename HOT/.NAME.tmp to HOT/NAME (the batch appears complete).
drop() { mv "$HOT/.$1.tmp" "$HOT/$1"; }

# wait_published WO N: until N job folders of WO are published and all N
# jobs are done; sets T_PUBLISHED (microseconds; the first time N folders
# existed).
wait_published() {
    local wo=$1 want=$2 deadline last_poll=0 rows id state batch pages pdone failed ndone
    local -a pub
    now_us
    deadline=$((NOW_US + TIMEOUT * 1000000))
    T_PUBLISHED=
    while :; do
        now_us
        if [[ -z $T_PUBLISHED ]]; then
            shopt -s nullglob
            pub=("$OUTPUT/BENCH/$wo"/job-*)
            shopt -u nullglob
            [[ ${#pub[@]} -ge $want ]] && T_PUBLISHED=$NOW_US
        fi
        # The catalog every 2 s (and at the end): failures, holds, progress.
        if [[ -n $T_PUBLISHED ]] || ((NOW_US - last_poll >= 2000000)); then
            last_poll=$NOW_US
            kill -0 "$SERVE_PID" 2>/dev/null || die "pagemill serve died (see $SERVE_LOG)"
            rows=$(jobs_of "$wo") || die "pagemill job list failed (see $WORK/logs/cli.log)"
            ndone=0
            while IFS=$'\t' read -r id state batch pages pdone failed; do
                [[ -n $id ]] || continue
                case $state in
                    done) ndone=$((ndone + 1)) ;;
                    failed | held | cancelled)
                        die "job $id (batch $batch) is $state: $(pm_cli job show "$id" 2>&1 | head -n 30)" ;;
                esac
            done <<<"$rows"
            [[ -d $HOT/_rejected ]] && die "a batch was rejected: $(cat "$HOT"/_rejected/*/ERROR.txt 2>/dev/null)"
            [[ -n $T_PUBLISHED && $ndone -ge $want ]] && return 0
        fi
        ((NOW_US > deadline)) && die "timed out after $TIMEOUT s waiting for $want job(s) of $wo"
        nap 0.1
    done
}

# One measured drop of batches (NAME:PAGES ...) of work order WO from SRCDIR.
# Sets D_SECONDS D_PAGES D_TICKS D_WTICKS (the workers' CPU) D_RSS.
measure_drop() {
    local wo=$1 srcdir=$2 before=$3
    shift 3
    local nb=$# pages=0 spec ticks0 wticks0 t0
    for spec in "$@"; do
        stage "${spec%%:*}" "$srcdir/${spec%%:*}" "$wo" "${spec##*:}"
        pages=$((pages + ${spec##*:}))
    done
    nap 0.5 # the hot folder events of staging settle (hidden names: ignored)
    wticks0=$(workers_ticks)
    ticks0=$(coord_ticks)
    now_us
    t0=$NOW_US
    for spec in "$@"; do
        drop "${spec%%:*}"
    done
    wait_published "$wo" $((before + nb))
    D_SECONDS=$(us_to_s $((T_PUBLISHED - t0)))
    D_TICKS=$(($(coord_ticks) - ticks0))
    D_WTICKS=$(($(workers_ticks) - wticks0))
    D_RSS=$(coord_rss_kb)
    D_PAGES=$pages
}

# The fixed batch: one folder named by its work order.
if [[ $STREAM_ONLY -eq 0 ]]; then
    mkdir -p "$WORK/in/drop"
    ln -sfn "$WORK/in/fixed" "$WORK/in/drop/WO-BENCH-FIXED"
    log "service: dropping the fixed batch ($FIXED_PAGES pages)"
    measure_drop WO-BENCH-FIXED "$WORK/in/drop" 0 "WO-BENCH-FIXED:$FIXED_PAGES"
    FIXED_S=$D_SECONDS FIXED_TICKS=$D_TICKS RSS_FIXED=$D_RSS
    log "service: $FIXED_S s, coordinator $((FIXED_TICKS * 1000 / CLK_TCK)) ms CPU, RSS $RSS_FIXED KiB"

    FIXED_JOB=$(jobs_of WO-BENCH-FIXED | cut -f1 | head -n1)
    FIXED_DIR=$OUTPUT/BENCH/WO-BENCH-FIXED/job-$FIXED_JOB

    # convert again, the service idle meanwhile (its workers wait on stdin).
    run_convert after
    CONVERT2_S=$CONVERT_S
fi

# The stream: every batch dropped at once, then OCRmyPDF on the same batches.
STREAM_S= OCRMYPDF_STREAM_S= OCRMYPDF_TICKS= STREAM_PAGES=0
if [[ ${#STREAM_BATCHES[@]} -gt 0 ]]; then
    STREAM_LOAD_BEFORE=$(uptime)
    log "service: stream of ${#STREAM_BATCHES[@]} batches"
    measure_drop WO-BENCH-STREAM "$WORK/in/stream" 0 "${STREAM_BATCHES[@]}"
    STREAM_S=$D_SECONDS STREAM_PAGES=$D_PAGES STREAM_TICKS=$D_TICKS STREAM_WTICKS=$D_WTICKS
    log "service: stream: $D_PAGES pages in $D_SECONDS s"
    STREAM_LOAD_MID=$(uptime)
    if command -v ocrmypdf >/dev/null && command -v img2pdf >/dev/null; then
        mkdir -p "$WORK/out/ocrmypdf-stream"
        log "ocrmypdf: the same ${#STREAM_BATCHES[@]} batches, one document each, one after the other"
        cticks0=$(children_ticks)
        now_us
        t0=$NOW_US
        for spec in "${STREAM_BATCHES[@]}"; do
            b=${spec%%:*} o=$WORK/out/ocrmypdf-stream
            img2pdf -o "$o/$b.img.pdf" "$WORK/in/stream/$b"/* >>"$WORK/logs/ocrmypdf-stream.log" 2>&1 &&
                ocrmypdf --jobs 2 --deskew --output-type pdfa --sidecar "$o/$b.txt" \
                    "$o/$b.img.pdf" "$o/$b.pdf" >>"$WORK/logs/ocrmypdf-stream.log" 2>&1 ||
                die "ocrmypdf failed on batch $b (see $WORK/logs/ocrmypdf-stream.log)"
        done
        now_us
        OCRMYPDF_STREAM_S=$(us_to_s $((NOW_US - t0)))
        OCRMYPDF_TICKS=$(($(children_ticks) - cticks0))
        log "ocrmypdf: stream: $OCRMYPDF_STREAM_S s"
    else
        echo "$BENCH_NAME: no ocrmypdf or img2pdf: the stream is not compared" >&2
    fi
    STREAM_LOAD_AFTER=$(uptime)
fi

# The synthetic batches, in two waves.
WAVE_PAGES=() WAVE_S=() WAVE_TICKS=() WAVE_RSS=() WAVE_NB=()
if [[ ${#SYNTH_BATCHES[@]} -gt 0 ]]; then
    nb=${#SYNTH_BATCHES[@]}
    half=$(((nb + 1) / 2))
    done_jobs=0
    for w in 1 2; do
        if [[ $w -eq 1 ]]; then
            batch_set=("${SYNTH_BATCHES[@]:0:half}")
        else
            batch_set=("${SYNTH_BATCHES[@]:half}")
        fi
        [[ ${#batch_set[@]} -gt 0 ]] || continue
        log "service: synthetic wave $w: ${#batch_set[@]} batches"
        measure_drop WO-BENCH-SYNTH "$WORK/in/synth" "$done_jobs" "${batch_set[@]}"
        done_jobs=$((done_jobs + ${#batch_set[@]}))
        WAVE_NB+=("${#batch_set[@]}") WAVE_PAGES+=("$D_PAGES") WAVE_S+=("$D_SECONDS")
        WAVE_TICKS+=("$D_TICKS") WAVE_RSS+=("$D_RSS")
        log "service: wave $w: $D_PAGES pages in $D_SECONDS s, coordinator $((D_TICKS * 1000 / CLK_TCK)) ms CPU, RSS $D_RSS KiB"
    done
fi
RSS_END=$(coord_rss_kb)

log "stopping pagemill serve (SIGTERM)"
stop_serve 60
[[ $SERVE_RC -eq 0 ]] || echo "$BENCH_NAME: pagemill serve exited with status $SERVE_RC after SIGTERM" >&2
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# 5. Checks and report.
# ---------------------------------------------------------------------------
if [[ $STREAM_ONLY -eq 0 ]]; then
    # The fixed job: every page done, outputs published, same text as convert.
    read -r _ FIXED_STATE _ FJ_PAGES FJ_DONE FJ_FAILED < <(jobs_of WO-BENCH-FIXED | head -n1)
    for f in "$FIXED_DIR/data/job-$FIXED_JOB.pdf" "$FIXED_DIR/data/job-$FIXED_JOB.txt" "$FIXED_DIR/data/job-$FIXED_JOB.pages.json"; do
        [[ -s $f ]] || die "missing published output $f"
    done
    if cmp -s "$FIXED_DIR/data/job-$FIXED_JOB.txt" "$WORK/out/convert-before/fixed.txt"; then
        SAME_TEXT="identical"
    else
        SAME_TEXT="DIFFERENT (compare $FIXED_DIR/data/job-$FIXED_JOB.txt with $WORK/out/convert-before/fixed.txt)"
    fi
    CONVERT_OK=$(jq -r '"\(.converted)/\(.pages)"' "$WORK/out/convert-before/fixed.pages.json")" and "$(
        jq -r '"\(.converted)/\(.pages)"' "$WORK/out/convert-after/fixed.pages.json")
    # Seconds of page work the workers reported (sum of the pages' total ms):
    # more for the same pages = the machine was busier during that run.
    work_s() { jq '[.page_results[].ms.total] | add / 1000' "$1"; }
    CONVERT1_WORK=$(work_s "$WORK/out/convert-before/fixed.pages.json")
    CONVERT2_WORK=$(work_s "$WORK/out/convert-after/fixed.pages.json")
    SERVICE_WORK=$(work_s "$FIXED_DIR/data/job-$FIXED_JOB.pages.json")
fi
SYNTH_JOBS_DONE=0 SYNTH_PAGES_DONE=0 SYNTH_FAILED=0
if [[ ${#SYNTH_BATCHES[@]} -gt 0 ]]; then
    while IFS=$'\t' read -r id state batch pages pdone failed; do
        [[ $state == "done" ]] && SYNTH_JOBS_DONE=$((SYNTH_JOBS_DONE + 1))
        SYNTH_PAGES_DONE=$((SYNTH_PAGES_DONE + pdone))
        SYNTH_FAILED=$((SYNTH_FAILED + failed))
    done < <(jobs_of WO-BENCH-SYNTH)
fi

ms_per_page() { calc "$1 * 1000 / $CLK_TCK / $2"; }
mib() { calc "$1 / 1024"; }
if [[ $STREAM_ONLY -eq 0 ]]; then
    CONVERT_S=$(calc "($CONVERT1_S + $CONVERT2_S) / 2")
    CONVERT_PPS=$(calc "$FIXED_PAGES / $CONVERT_S")
    SERVICE_PPS=$(calc "$FIXED_PAGES / $FIXED_S")
    RATIO=$(calc "$SERVICE_PPS / $CONVERT_PPS")
    RATIO1=$(calc "$CONVERT1_S / $FIXED_S")
    RATIO2=$(calc "$CONVERT2_S / $FIXED_S")
    FIXED_MSPP=$(ms_per_page "$FIXED_TICKS" "$FIXED_PAGES")
fi
verdict() { (($(calc "($1)"))) && echo met || echo "NOT met"; }

# The stream's section of the report: service vs OCRmyPDF, and where the
# service's time went (every stream job's published .pages.json).
report_stream() {
    [[ -n $STREAM_S ]] || return 0
    local jsons
    jsons=("$OUTPUT/BENCH/WO-BENCH-STREAM"/job-*/data/job-*.pages.json)
    echo "## Stream of batches: service vs OCRmyPDF"
    echo
    echo "The $STREAM_PAGES pages of the fixed batch dealt round-robin into ${#STREAM_BATCHES[@]} batches of mixed"
    echo "pages. service: all batch folders renamed into the hot folder at once, timed until the last job's"
    echo "folder is published (workers = 2, warm: the service was already running). OCRmyPDF: each batch"
    echo "made into one document as its users do, one batch after the other: \`img2pdf -o B.img.pdf PAGES...\`"
    echo "then \`ocrmypdf --jobs 2 --deskew --output-type pdfa --sidecar B.txt B.img.pdf B.pdf\`."
    echo
    echo "| tool     | batches | pages | seconds | pages/s |"
    echo "|----------|---------|-------|---------|---------|"
    printf '| service  | %7d | %5d | %7.1f | %7.3f |\n' "${#STREAM_BATCHES[@]}" "$STREAM_PAGES" "$STREAM_S" \
        "$(calc "$STREAM_PAGES / $STREAM_S")"
    if [[ -n $OCRMYPDF_STREAM_S ]]; then
        printf '| ocrmypdf | %7d | %5d | %7.1f | %7.3f |\n' "${#STREAM_BATCHES[@]}" "$STREAM_PAGES" \
            "$OCRMYPDF_STREAM_S" "$(calc "$STREAM_PAGES / $OCRMYPDF_STREAM_S")"
        echo
        printf -- '- service / OCRmyPDF: **%.2f** (target >= 2.0: %s)\n' \
            "$(calc "$OCRMYPDF_STREAM_S / $STREAM_S")" "$(verdict "$OCRMYPDF_STREAM_S / $STREAM_S >= 2.0")"
    fi
    printf -- '- coordinator CPU: %d ms for %d pages\n' $((STREAM_TICKS * 1000 / CLK_TCK)) "$STREAM_PAGES"
    printf -- '- CPU seconds (less moved by the load than wall time): service workers %.1f + coordinator %.1f' \
        "$(calc "$STREAM_WTICKS / $CLK_TCK")" "$(calc "$STREAM_TICKS / $CLK_TCK")"
    if [[ -n $OCRMYPDF_TICKS ]]; then
        printf '; OCRmyPDF %.1f (img2pdf, ocrmypdf and everything it ran); OCRmyPDF / service %.2f\n' \
            "$(calc "$OCRMYPDF_TICKS / $CLK_TCK")" "$(calc "$OCRMYPDF_TICKS / ($STREAM_WTICKS + $STREAM_TICKS)")"
    else
        echo
    fi
    echo "- load: before \`$STREAM_LOAD_BEFORE\`; after the service \`$STREAM_LOAD_MID\`; after OCRmyPDF \`${STREAM_LOAD_AFTER:-}\`"
    echo
    echo "Where the service's time went: seconds summed over the stream's pages per stage (the jobs'"
    echo "published .pages.json); page work / 2 is the wall time two always-busy workers would need; the gap"
    echo "is the rest (intake, claims, the tail of the last job, assembly, publishing)."
    echo
    jq -s -r --arg wall "$STREAM_S" '
        [.[].page_results[] | select(.ms != null) | .ms] as $p
        | ["decode","orient","deskew","blank","ocr","encode"] as $st
        | ($p | map(.total) | add / 1000) as $work
        | "| " + ($st | join(" | ")) + " | page work | work / 2 | wall | gap |",
          "|" + ([$st[], "page work", "work / 2", "wall", "gap"] | map("---") | join("|")) + "|",
          "| " + ([$st[] as $s | ($p | map(.[$s] // 0) | add / 1000)] + [$work, $work / 2,
                   ($wall | tonumber), (($wall | tonumber) - $work / 2)]
                  | map(. * 100 | round / 100 | tostring) | join(" | ")) + " |"' "${jsons[@]}"
    echo
    echo "Archival outputs per page, in the same run: conversion = the stream's wall time / pages;"
    echo "TIFF master (written by the assembly), ALTO (each page's by the workers, in their OCR time,"
    echo "and its merge by publishing) and bag + checksums (publishing: digests, events.json, the tag"
    echo "files and manifests), from the jobs' reports (archival_ms) and the service's log."
    echo
    bench_archival "$STREAM_S" "$SERVE_LOG" "${jsons[@]}"
    echo
}

{
    echo "# pagemill service benchmark"
    echo
    echo "- date: $(date '+%Y-%m-%d %H:%M %Z')"
    echo "- host: $BENCH_NPROC CPUs, $BENCH_CPU; load average $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- pagemill: $BENCH_PAGEMILL"
    echo "- work dir $WORK; service root $SVC (config $CONF); clock ticks $CLK_TCK/s"
    echo
    if [[ $STREAM_ONLY -eq 0 ]]; then
        echo "## Fixed batch: service vs convert"
        echo
        echo "The $FIXED_PAGES pages of scripts/bench-pages.txt (skewed copies included) as one document."
        echo "convert: \`pagemill convert --jobs 2 --config CONF --out OUT WORK/in/fixed\`, wall time, run just"
        echo "before and just after the service's drop. service: \`pagemill serve --config CONF\` (workers = 2,"
        echo "already running), from the rename of the batch folder into the hot folder to its published"
        echo "folder existing. Page work = sum of the pages' total ms in the run's .pages.json (the workers'"
        echo "time per page: higher for the same pages means a busier machine); busy = page work / (2 x seconds)."
        echo
        echo "| run              | pages | seconds | pages/s | page work s | busy |"
        echo "|------------------|-------|---------|---------|-------------|------|"
        printf '| convert (before) | %5d | %7.1f | %7.3f | %11.1f | %3.0f%% |\n' "$FIXED_PAGES" "$CONVERT1_S" \
            "$(calc "$FIXED_PAGES / $CONVERT1_S")" "$CONVERT1_WORK" "$(calc "$CONVERT1_WORK * 50 / $CONVERT1_S")"
        printf '| service          | %5d | %7.1f | %7.3f | %11.1f | %3.0f%% |\n' "$FIXED_PAGES" "$FIXED_S" \
            "$SERVICE_PPS" "$SERVICE_WORK" "$(calc "$SERVICE_WORK * 50 / $FIXED_S")"
        printf '| convert (after)  | %5d | %7.1f | %7.3f | %11.1f | %3.0f%% |\n' "$FIXED_PAGES" "$CONVERT2_S" \
            "$(calc "$FIXED_PAGES / $CONVERT2_S")" "$CONVERT2_WORK" "$(calc "$CONVERT2_WORK * 50 / $CONVERT2_S")"
        echo
        printf -- '- service / convert (mean of the two convert runs, %.1f s): **%.3f** (target >= 0.95: %s);\n' \
            "$CONVERT_S" "$RATIO" "$(verdict "$RATIO >= 0.95")"
        printf -- '  against each run alone %.3f (before) and %.3f (after)\n' "$RATIO1" "$RATIO2"
        printf -- '- coordinator CPU: %d ms for %d pages = **%.2f ms/page** (target < 5: %s)\n' \
            $((FIXED_TICKS * 1000 / CLK_TCK)) "$FIXED_PAGES" "$FIXED_MSPP" "$(verdict "$FIXED_MSPP < 5")"
        printf -- '- coordinator RSS: %.1f MiB at start, %.1f MiB after the batch\n' "$(mib "$RSS_START")" "$(mib "$RSS_FIXED")"
        echo "- job $FIXED_JOB: $FIXED_STATE, $FJ_DONE/$FJ_PAGES pages done, $FJ_FAILED failed; convert (before/after): $CONVERT_OK converted"
        echo "- text of the service's job-$FIXED_JOB.txt and convert's fixed.txt: $SAME_TEXT"
        echo
        echo "Archival outputs per page of the service's job (conversion = its wall time / pages;"
        echo "convert writes none of them):"
        echo
        bench_archival "$FIXED_S" "$SERVE_LOG" "$FIXED_DIR/data/job-$FIXED_JOB.pages.json"
    fi
    report_stream
    if [[ ${#WAVE_PAGES[@]} -gt 0 ]]; then
        echo
        echo "## Synthetic small pages: $SYNTH pages"
        echo
        echo "600 x 400 px, 1 bpp, 300 dpi, CCITT G4, 7 lines of text (scripts/bench-synth.c), in batches of"
        echo "$BATCH_SIZE pages (one batch folder each, work order WO-BENCH-SYNTH), dropped in two waves; each"
        echo "wave timed from its first rename to its last published folder; RSS read when the wave is done."
        echo
        echo "| wave | batches | pages | seconds | pages/s | coordinator CPU ms | ms/page | RSS after, MiB |"
        echo "|------|---------|-------|---------|---------|--------------------|---------|----------------|"
        tp=0 ts=0 tt=0 cum=0
        for k in "${!WAVE_PAGES[@]}"; do
            p=${WAVE_PAGES[$k]} s=${WAVE_S[$k]} t=${WAVE_TICKS[$k]}
            cum=$((cum + p))
            printf '| %d    | %7d | %5d | %7.1f | %7.3f | %18d | %7.2f | %14.1f |\n' $((k + 1)) "${WAVE_NB[$k]}" "$p" "$s" \
                "$(calc "$p / $s")" $((t * 1000 / CLK_TCK)) "$(ms_per_page "$t" "$p")" "$(mib "${WAVE_RSS[$k]}")"
            tp=$((tp + p)) tt=$((tt + t)) ts=$(calc "$ts + $s")
        done
        printf '| all  | %7d | %5d | %7.1f | %7.3f | %18d | %7.2f | %14.1f |\n' "${#SYNTH_BATCHES[@]}" "$tp" "$ts" \
            "$(calc "$tp / $ts")" $((tt * 1000 / CLK_TCK)) "$(ms_per_page "$tt" "$tp")" "$(mib "$RSS_END")"
        SYN_MSPP=$(ms_per_page "$tt" "$tp")
        echo
        printf -- '- coordinator CPU: **%.2f ms/page** over %d pages (target < 5: %s)\n' "$SYN_MSPP" "$tp" \
            "$(verdict "$SYN_MSPP < 5")"
        R0=$RSS_FIXED
        printf -- '- coordinator RSS: %.1f MiB at service start, %.1f MiB before the synthetic pages' \
            "$(mib "$RSS_START")" "$(mib "$R0")"
        cum=0
        for k in "${!WAVE_PAGES[@]}"; do
            cum=$((cum + WAVE_PAGES[k]))
            printf ', %.1f MiB after %d' "$(mib "${WAVE_RSS[$k]}")" "$cum"
        done
        printf '; growth over the synthetic run %+.1f MiB (flat = within a few MiB: %s)\n' \
            "$(calc "($RSS_END - $R0) / 1024")" "$(verdict "($RSS_END - $R0) / 1024 <= 4")"
        echo "- jobs: $SYNTH_JOBS_DONE of ${#SYNTH_BATCHES[@]} done, $SYNTH_PAGES_DONE pages done, $SYNTH_FAILED failed"
    fi
    echo
    echo "## Notes"
    echo
    echo "- Coordinator CPU is utime + stime of the \`pagemill serve\` process alone (/proc/PID/stat, $CLK_TCK ticks/s),"
    echo "  read just before the drop and once the job(s) were done: the loop, intake (frame counting and SHA-256"
    echo "  on libuv's thread pool), catalog writes and publishing; the workers' CPU is not in it."
    echo "- RSS is VmRSS of the same process (/proc/PID/status)."
    echo "- Batches are copied into the hot folder under a hidden name, batch.ini written last, then renamed,"
    echo "  so each appears complete at once; intake then sees it on the folder's inotify event (200 ms later)"
    echo "  or on the 2 s scan."
    echo "- \`pagemill job list --json\` is polled every 2 s while waiting (a separate process on the same"
    echo "  machine); the published folder is checked every 0.1 s."
    echo "- pagemill serve exited with status ${SERVE_RC:-?} after SIGTERM."
    echo "- Logs: $WORK/logs (serve.log, convert-*.log, cli.log); outputs under $OUTPUT and $WORK/out/convert-*."
} >"$WORK/bench-service.md"
cat "$WORK/bench-service.md"
log "markdown written to $WORK/bench-service.md"
