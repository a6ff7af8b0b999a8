#!/usr/bin/env bash
# soak.sh: runs `pagemill serve` for MINUTES while feeding it batches
# continuously and doing harm at random, then checks that nothing was lost,
# billed twice or published wrong.
#
#   scripts/soak.sh [--build DIR] [--work DIR] [--seed N] MINUTES
#
# Batches: folders of 1-4 pages (the real scans of examples/, and the fax
# and TIFF pages of ../shared/data when it is there), each page made unique
# by trailing bytes the decoders ignore; about one batch in eight has a
# corrupt page (truncated, zero bytes, or text named .tif) and one in ten is
# dropped again (a duplicate, to be held). Harm, every 10-30 s: kill -9 a
# worker, kill -9 the coordinator (restarted at once), or fill the output
# volume (a tmpfs when run as root) to the last byte for 15 s and free it.
#
# At the end (feeding stops, every job must settle): every batch is
# accounted for (a job, or rejected with an ERROR.txt); every done job's
# billable pages equal its done non-blank pages; every published PDF has the
# job's page count, and the SHA-256 the catalog recorded when it has one;
# failed jobs say why; no temp files are left; the coordinator's open
# descriptors and RSS stay flat over its longest life. Exit 0 when all hold.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOTDIR=$PWD
BENCH_NAME=soak
SCRIPT_DIR=$ROOTDIR/scripts
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"

usage() { sed -n '5p' "$0" | sed 's/^# *//'; }

BUILD=build WORK='' SEED=$$ MINUTES=''
while [[ $# -gt 0 ]]; do
    case $1 in
    --build) BUILD=$2; shift ;;
    --work) WORK=$2; shift ;;
    --seed) SEED=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) [[ -z $MINUTES && $1 =~ ^[0-9]+$ ]] || { usage >&2; die "bad argument: $1"; }
       MINUTES=$1 ;;
    esac
    shift
done
[[ -n $MINUTES ]] || { usage >&2; exit 2; }
BIN=$(realpath "$BUILD/pagemill")
[[ -x $BIN ]] || die "no binary at $BIN (build first)"
DATA=$(realpath -m "$ROOTDIR/../shared/data")
WORK=$(realpath -m "${WORK:-$(mktemp -d /tmp/pm-soak.XXXXXX)}")
RANDOM=$SEED
CONF=$WORK/pagemill.ini
HOT=$WORK/hot
OUT=$WORK/out
SERVE=0
MOUNTED=0

cleanup() {
    [[ $SERVE -gt 0 ]] && kill -KILL "$SERVE" 2>/dev/null || true
    [[ $MOUNTED -eq 1 ]] && umount -l "$OUT" 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$HOT" "$WORK/spool" "$OUT" "$WORK/pages" "$WORK/log"
# Large enough for every output of a long run (tmpfs takes memory only as
# it fills); a fault fills what is left of it.
if [[ $(id -u) -eq 0 ]] && mount -t tmpfs -o size=2g pm-soak "$OUT"; then
    MOUNTED=1
else
    log "output volume faults skipped: mounting a tmpfs needs root"
fi
cat >"$CONF" <<EOF
[pagemill]
catalog = $WORK/catalog.db
spool = $WORK/spool
output = $OUT
workers = 2
page_timeout = 120
max_attempts = 3

[hotfolder scans]
path = $HOT
account = SOAK
settle_seconds = 1
EOF
pm() { "$BIN" "$@" --config "$CONF" --actor soak; }
pm account add SOAK --name "Soak test" >/dev/null
for w in 1 2 3 4; do pm workorder add "WO-2026-900$w" --account SOAK >/dev/null; done

# The page pool: real scans, and fax/TIFF pages when the shared data is here.
POOL=("$ROOTDIR"/examples/WO-2026-0001/p00{1..5}.*)
for f in derived/ccitt-fax-8pages-g4-204x196dpi.tif \
    debian-jbigkit-testdata/converted/ccitt1.png \
    debian-jbigkit-testdata/converted/ccitt3.png; do
    [[ -f $DATA/$f ]] && POOL+=("$DATA/$f")
done
log "soak: $MINUTES min, seed $SEED, ${#POOL[@]} source pages, work in $WORK"

# ---- the service ----

start_serve() {
    "$BIN" serve --config "$CONF" 2>>"$WORK/log/serve.log" &
    SERVE=$!
    echo "$SERVE" >>"$WORK/log/pids"
}

sample() { # pid, VmRSS kB, open descriptors
    local rss fds
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVE/status" 2>/dev/null) || return 0
    fds=$(find "/proc/$SERVE/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [[ -n $rss ]] && echo "$SERVE $rss $fds" >>"$WORK/log/samples"
    return 0
}

# ---- batches ----

NBATCH=0
declare -a DROPPED=()

unique_page() { # src dst: a copy made unique by ignored trailing bytes
    cp "$1" "$2"
    printf '\nsoak %s %s %s\n' "$SEED" "$NBATCH" "$RANDOM" >>"$2"
}

corrupt_page() { # dst
    case $((RANDOM % 3)) in
    0) head -c 3000 "${POOL[0]}" >"$1" ;;
    1) : >"$1" ;;
    2) echo "this is not an image" >"$1" ;;
    esac
}

drop_batch() {
    local name dir n ext i src
    NBATCH=$((NBATCH + 1))
    name=$(printf 'WO-2026-900%d_b%04d' $((RANDOM % 4 + 1)) "$NBATCH")
    dir=$WORK/pages/$name
    mkdir -p "$dir"
    n=$((RANDOM % 4 + 1))
    for ((i = 1; i <= n; i++)); do
        src=${POOL[RANDOM % ${#POOL[@]}]}
        ext=${src##*.}
        unique_page "$src" "$dir/p$i.$ext"
    done
    [[ $((RANDOM % 8)) -eq 0 ]] && corrupt_page "$dir/p$((n + 1)).tif"
    cp -r "$dir" "$HOT/.$name.part"
    mv "$HOT/.$name.part" "$HOT/$name"
    echo "operator = soak" >"$HOT/$name/batch.ini"
    DROPPED+=("$name")
    if [[ $((RANDOM % 10)) -eq 0 ]]; then # the same pages again
        NBATCH=$((NBATCH + 1))
        local dup=${name%_*}_b$(printf '%04d' "$NBATCH")
        cp -r "$dir" "$HOT/.$dup.part"
        mv "$HOT/.$dup.part" "$HOT/$dup"
        echo "operator = soak" >"$HOT/$dup/batch.ini"
        DROPPED+=("$dup")
    fi
}

# ---- harm ----

fill_volume() {
    [[ $MOUNTED -eq 1 ]] || return 0
    log "harm: output volume full for 15 s"
    dd if=/dev/zero of="$OUT/.soak-filler" bs=1M 2>/dev/null || true # to full
    FILLED_UNTIL=$((SECONDS + 15))
}

harm() {
    local r=$((RANDOM % 10)) w
    local -a ws
    if [[ $r -lt 5 ]]; then
        mapfile -t ws < <(pgrep -P "$SERVE" -f 'pagemill worker' || true)
        [[ ${#ws[@]} -gt 0 ]] || return 0
        w=${ws[RANDOM % ${#ws[@]}]}
        log "harm: kill -9 worker $w"
        kill -KILL "$w" 2>/dev/null || true
    elif [[ $r -lt 8 ]]; then
        log "harm: kill -9 the coordinator $SERVE"
        kill -KILL "$SERVE" 2>/dev/null || true
        wait "$SERVE" 2>/dev/null || true
        start_serve
    else
        fill_volume
    fi
}

# ---- the run ----

unsettled() {
    sqlite3 "$WORK/catalog.db" "SELECT count(*) FROM jobs WHERE state IN
        ('received','queued','running','assembling')" 2>/dev/null || echo 1
}

start_serve
FILLED_UNTIL=0
end=$((SECONDS + MINUTES * 60))
next_harm=$((SECONDS + 10 + RANDOM % 20))
while [[ $SECONDS -lt $end ]]; do
    if ! kill -0 "$SERVE" 2>/dev/null; then
        log "the coordinator exited on its own; see $WORK/log/serve.log"
        wait "$SERVE" || true
        start_serve
    fi
    # a stream, not a flood: a new batch when fewer than 3 are in work
    if [[ $(find "$HOT" -mindepth 1 -maxdepth 1 -name 'WO-*' | wc -l) -eq 0 &&
        $(unsettled) -lt 3 ]]; then
        drop_batch
    fi
    if [[ $FILLED_UNTIL -gt 0 && $SECONDS -ge $FILLED_UNTIL ]]; then
        rm -f "$OUT/.soak-filler"
        FILLED_UNTIL=0
        log "harm: output volume freed"
    fi
    [[ $SECONDS -ge $next_harm ]] && { harm; next_harm=$((SECONDS + 10 + RANDOM % 20)); }
    sample
    sleep 1
done
rm -f "$OUT/.soak-filler"
log "feeding stopped after $NBATCH batches; waiting for every job to settle"

deadline=$((SECONDS + 900))
while [[ $(find "$HOT" -mindepth 1 -maxdepth 1 -name 'WO-*' | wc -l) -gt 0 ||
    $(unsettled) -gt 0 ]]; do
    kill -0 "$SERVE" 2>/dev/null || { wait "$SERVE" || true; start_serve; }
    [[ $SECONDS -lt $deadline ]] || { log "jobs did not settle in 15 min"; break; }
    sample
    sleep 2
done
kill -TERM "$SERVE"
wait "$SERVE" || log "serve exited with status $?"
SERVE=0

# ---- checks ----

FAIL=0
bad() { echo "soak: FAIL: $*" >&2; FAIL=1; }
q() { sqlite3 -batch -noheader "$WORK/catalog.db" "$@"; }

for b in "${DROPPED[@]}"; do
    if [[ -n $(q "SELECT id FROM jobs WHERE batch = '$b' LIMIT 1") ]]; then
        continue
    elif [[ -f $HOT/_rejected/$b/ERROR.txt ]]; then
        continue
    fi
    bad "batch $b is neither a job nor rejected with an ERROR.txt"
done

while IFS='|' read -r id billable nonblank; do
    [[ $billable -eq $nonblank ]] ||
        bad "job $id: $billable billable pages, $nonblank done non-blank pages"
done < <(q "SELECT j.id,
    (SELECT count(*) FROM billable_pages b WHERE b.job = j.id AND b.blank = 0),
    (SELECT count(*) FROM page_tasks t WHERE t.job = j.id AND t.state = 'done'
        AND t.blank = 0)
    FROM jobs j WHERE j.state = 'done'")

has_sha=$(q "SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'pdf_sha256'")
while IFS='|' read -r id pages path sha; do
    pdf=$path/data/job-$id.pdf
    [[ -f $pdf || ! -f $path/job-$id.pdf ]] || pdf=$path/job-$id.pdf # before bags
    if [[ -f $path/bagit.txt ]] && ! "$BIN" verify "$path" >"$WORK/verify.out" 2>&1; then
        bad "job $id: $path is not a valid bag: $(grep -v 'fault' "$WORK/verify.out" | head -n3)"
    fi
    if [[ ! -f $pdf ]]; then
        bad "job $id: done, but $pdf is missing"
        continue
    fi
    n=$(qpdf --show-npages "$pdf" 2>/dev/null || echo '?')
    [[ $n == "$pages" ]] || bad "job $id: $pdf has $n pages, the job $pages"
    if [[ $has_sha -eq 1 ]]; then
        got=$(sha256sum "$pdf" | cut -d' ' -f1)
        [[ $got == "$sha" ]] || bad "job $id: $pdf SHA-256 $got, catalog $sha"
    fi
done < <(q "SELECT id, pages, output_path, $([[ $has_sha -eq 1 ]] && echo pdf_sha256 || echo "''")
    FROM jobs WHERE state = 'done'")

while IFS='|' read -r id; do
    bad "job $id failed without a reason"
done < <(q "SELECT id FROM jobs WHERE state = 'failed' AND coalesce(error, '') = ''")

tmps=$(find "$OUT" "$WORK/spool" -name '*.tmp*' 2>/dev/null | head -5)
[[ -z $tmps ]] || bad "temp files left: $tmps"

# Descriptors and RSS over the coordinator's longest life: the last quarter
# of its samples against the second quarter (after warm-up).
if [[ -s $WORK/log/samples ]]; then
    longest=$(cut -d' ' -f1 "$WORK/log/samples" | sort | uniq -c | sort -rn |
        awk 'NR == 1 {print $2}')
    read -r fd_early fd_late rss_early rss_late nsamples < <(awk -v p="$longest" '
        $1 == p { rss[n] = $2; fd[n] = $3; n++ }
        END {
            a = int(n / 4); b = int(n / 2); c = int(3 * n / 4)
            for (i = a; i < b; i++) { fe = fd[i] > fe ? fd[i] : fe; re += rss[i] }
            for (i = c; i < n; i++) { fl = fd[i] > fl ? fd[i] : fl; rl += rss[i] }
            printf "%d %d %d %d %d\n", fe, fl, re / (b - a > 0 ? b - a : 1),
                rl / (n - c > 0 ? n - c : 1), n
        }' "$WORK/log/samples")
    log "coordinator $longest over $nsamples samples: fds $fd_early -> $fd_late, RSS ${rss_early} -> ${rss_late} kB"
    if [[ $nsamples -ge 20 ]]; then
        [[ $fd_late -le $((fd_early + 4)) ]] || bad "open descriptors grew: $fd_early -> $fd_late"
        [[ $rss_late -le $((rss_early * 3 / 2 + 10240)) ]] || bad "RSS grew: $rss_early -> $rss_late kB"
    fi
fi

jobs_by_state=$(q "SELECT state || ' ' || count(*) FROM jobs GROUP BY state" | tr '\n' ',')
rejected=0
[[ -d $HOT/_rejected ]] && rejected=$(find "$HOT/_rejected" -mindepth 1 -maxdepth 1 | wc -l)
restarts=$(($(wc -l <"$WORK/log/pids") - 1))
log "batches $NBATCH; jobs: ${jobs_by_state%,}; rejected $rejected; coordinator restarts $restarts"
log "pages done $(q "SELECT count(*) FROM page_tasks WHERE state = 'done'"), billable $(q "SELECT count(*) FROM billable_pages WHERE blank = 0")"
if [[ $FAIL -eq 0 ]]; then
    log "soak: PASS ($WORK)"
else
    log "soak: FAILED; logs in $WORK/log"
fi
exit $FAIL
