#!/usr/bin/env bash
# soak.sh: runs `pagemill serve` for MINUTES while feeding it batches
# continuously and doing harm at random, then checks that nothing was lost,
# billed twice or published wrong.
#
#   scripts/soak.sh [--build DIR] [--work DIR] [--seed N] [--harms LIST]
#                   [--page-timeout S] MINUTES
#
# Batches: folders of 1-4 pages (the real scans of examples/, and the fax
# and TIFF pages of ../shared/data when it is there), each page made unique
# by trailing bytes the decoders ignore; about one batch in eight has a
# corrupt page (truncated, zero bytes, or text named .tif) and one in ten is
# dropped again (a duplicate, to be held). Harm, every 10-30 s: kill -9 a
# worker, kill -9 the coordinator (restarted at once), or fill the output
# volume (a tmpfs when run as root) to the last byte for 15 s and free it.
#
# --harms LIST picks other harms (comma-separated; the default is the three
# above, weighted 5:3:2 as CI runs them; any other list is drawn evenly):
#   worker       kill -9 a worker
#   coordinator  kill -9 the coordinator, restarted at once
#   full         fill the output volume for 15 s (root: a tmpfs)
#   stop         SIGSTOP a worker until past page_timeout (the pool must
#                kill it), then SIGCONT
#   publish      kill -9 the coordinator while a job's folder is assembled
#                or published (its temp folder exists), restarted at once
#   swap         the next batch has a page rewritten (in place or renamed
#                over) at a random moment while it settles and is taken
#   fullwork     fill the volume of the catalog, spool and hot folder for
#                15 s (root: a tmpfs; no batch is dropped meanwhile)
#   replace      `pagemill job replace-page` of a done job's page
# --page-timeout S sets page_timeout (default 120; `stop` wants it short).
#
# At the end (feeding stops, every job must settle): every batch is
# accounted for (a job, or rejected with an ERROR.txt); every done job's
# billable pages equal its done non-blank pages; every published PDF has the
# job's page count, and the SHA-256 the catalog recorded when it has one;
# every page of a done job has, in the spool, the SHA-256 the catalog
# recorded at intake; failed jobs say why; no temp files are left; the
# coordinator's open
# descriptors and RSS stay flat over its longest life. Exit 0 when all hold.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOTDIR=$PWD
BENCH_NAME=soak
SCRIPT_DIR=$ROOTDIR/scripts
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"

usage() { sed -n '6,7p' "$0" | sed 's/^# //'; }

BUILD=build WORK='' SEED=$$ MINUTES='' HARMS='' PAGE_TIMEOUT=120
while [[ $# -gt 0 ]]; do
    case $1 in
    --build) BUILD=$2; shift ;;
    --work) WORK=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --harms) HARMS=$2; shift ;;
    --page-timeout) PAGE_TIMEOUT=$2; shift ;;
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
[[ $PAGE_TIMEOUT =~ ^[0-9]+$ && $PAGE_TIMEOUT -ge 5 ]] || die "bad --page-timeout: $PAGE_TIMEOUT"
declare -a HARM_LIST=()
if [[ -n $HARMS ]]; then
    IFS=, read -r -a HARM_LIST <<<"$HARMS"
    for h in "${HARM_LIST[@]}"; do
        case $h in
        worker | coordinator | full | stop | publish | swap | fullwork | replace) ;;
        *) die "unknown harm: $h (worker, coordinator, full, stop, publish, swap, fullwork, replace)" ;;
        esac
    done
fi
has_harm() { [[ -z $HARMS && $1 =~ ^(worker|coordinator|full)$ ]] || [[ ,$HARMS, == *",$1,"* ]]; }
CONF=$WORK/pagemill.ini
# The catalog, spool and hot folder share a volume of their own (a tmpfs)
# when it is to be filled; the hot folder stays beside the spool, so a take
# is a rename.
VOL=$WORK
has_harm fullwork && VOL=$WORK/vol
CATALOG=$VOL/catalog.db
SPOOL=$VOL/spool
HOT=$VOL/hot
OUT=$WORK/out
SERVE=0
MOUNTED=0
VOL_MOUNTED=0

cleanup() {
    [[ $SERVE -gt 0 ]] && kill -KILL "$SERVE" 2>/dev/null || true
    [[ $MOUNTED -eq 1 ]] && umount -l "$OUT" 2>/dev/null || true
    [[ $VOL_MOUNTED -eq 1 ]] && umount -l "$VOL" 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$VOL" "$OUT" "$WORK/pages" "$WORK/log"
# Large enough for every output of a long run (tmpfs takes memory only as
# it fills); a fault fills what is left of it.
if [[ $(id -u) -eq 0 ]] && mount -t tmpfs -o size=2g pm-soak "$OUT"; then
    MOUNTED=1
else
    log "output volume faults skipped: mounting a tmpfs needs root"
fi
if [[ $VOL != "$WORK" ]]; then
    if [[ $(id -u) -eq 0 ]] && mount -t tmpfs -o size=512m pm-soak-work "$VOL"; then
        VOL_MOUNTED=1
    else
        log "catalog and spool volume faults skipped: mounting a tmpfs needs root"
    fi
fi
mkdir -p "$HOT" "$SPOOL"
cat >"$CONF" <<EOF
[pagemill]
catalog = $CATALOG
spool = $SPOOL
output = $OUT
workers = 2
page_timeout = $PAGE_TIMEOUT
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

# The service in a process group of its own (job control on for the
# start), whose parent, this script, is in another group of the session:
# never an orphaned group, to which the kernel would send SIGHUP and
# SIGCONT when a member exits while another (a worker the `stop` harm
# stopped) is stopped.
start_serve() {
    set -m
    "$BIN" serve --config "$CONF" </dev/null 2>>"$WORK/log/serve.log" &
    SERVE=$!
    set +m
    echo "$SERVE" >>"$WORK/log/pids"
}

sample() { # pid, VmRSS kB, open descriptors
    local rss fds
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVE/status" 2>/dev/null) || return 0
    fds=$(find "/proc/$SERVE/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [[ -n $rss ]] || return 0
    NSAMPLE=$((NSAMPLE + 1))
    echo "$SERVE $rss $fds $NSAMPLE" >>"$WORK/log/samples"
    # What each descriptor is, so a growth names what grew.
    find "/proc/$SERVE/fd" -mindepth 1 -maxdepth 1 -printf "$NSAMPLE %f %l\n" \
        2>/dev/null >>"$WORK/log/fds" || true
    return 0
}

# ---- batches ----

NBATCH=0 SWAP_NEXT=0 NSAMPLE=0
declare -a DROPPED=() REPLACED=()
q() { sqlite3 -batch -noheader "$CATALOG" "$@"; }

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
    [[ $SWAP_NEXT -eq 1 ]] && { SWAP_NEXT=0; swap_page "$name" "$dir"; }
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

fill_work_volume() {
    [[ $VOL_MOUNTED -eq 1 ]] || return 0
    log "harm: catalog, spool and hot folder volume full for 15 s"
    dd if=/dev/zero of="$VOL/.soak-filler" bs=1M 2>/dev/null || true
    WORK_FILLED_UNTIL=$((SECONDS + 15))
}

workers_of_serve() { pgrep -P "$SERVE" -f 'pagemill worker' || true; }

kill_coordinator() { # why
    log "harm: kill -9 the coordinator $SERVE$1"
    kill -KILL "$SERVE" 2>/dev/null || true
    wait "$SERVE" 2>/dev/null || true
    start_serve
}

# A worker stopped past page_timeout: the pool must kill it (SIGKILL ends
# a stopped process); SIGCONT afterwards, in case it did not.
stop_worker() {
    local -a ws
    mapfile -t ws < <(workers_of_serve)
    [[ ${#ws[@]} -gt 0 ]] || return 0
    local w=${ws[RANDOM % ${#ws[@]}]}
    log "harm: SIGSTOP worker $w for $((PAGE_TIMEOUT + 5)) s"
    kill -STOP "$w" 2>/dev/null || true
    (sleep $((PAGE_TIMEOUT + 5)); kill -CONT "$w" 2>/dev/null || true) &
}

# kill -9 the coordinator while a job folder is assembled or published:
# waits (up to 60 s) for a .job-N.tmp (or a replaced page's
# job-N.replace.tmp), then either a random 0-2 s into its life or, one
# time in two, the moment its PDF is in place (assembly done, the publish
# step writing the report and the bag).
kill_mid_publish() {
    local t=$((SECONDS + 60)) delay=$((RANDOM % 20)) late=$((RANDOM % 2)) tmp pdfs
    while [[ $SECONDS -lt $t ]]; do
        tmp=$(find "$OUT" -mindepth 3 -maxdepth 3 \( -name '.job-*.tmp' -o \
            -name 'job-*.replace.tmp' \) 2>/dev/null | head -n1)
        [[ -n $tmp ]] && break
        sleep 0.05
    done
    [[ -n $tmp ]] || { log "harm: no assembly to interrupt in 60 s"; return 0; }
    if [[ $late -eq 1 ]]; then
        while [[ $SECONDS -lt $t && -d $tmp ]]; do
            pdfs=("$tmp"/data/job-*.pdf)
            [[ -f ${pdfs[0]} ]] && break
            sleep 0.01
        done
        [[ -d $tmp ]] || { log "harm: ${tmp#"$OUT"/} was published before its PDF was seen"; return 0; }
        kill_coordinator " once ${tmp#"$OUT"/} had its PDF ($(
            find "$tmp" -type f 2>/dev/null | wc -l) files in it)"
        return 0
    fi
    sleep "$((delay / 10)).$((delay % 10))"
    kill_coordinator " ${delay}00 ms after ${tmp#"$OUT"/} appeared ($(
        find "$tmp" -type f 2>/dev/null | wc -l) files in it now)"
}

# Rewrites page p1 of batch `name` at a random moment in its first 2.5 s:
# in place (same inode, new bytes) or renamed over (a new file), in the
# hot folder or, when it was taken meanwhile, in the spool.
swap_page() { # name dir
    local name=$1 src=${POOL[RANDOM % ${#POOL[@]}]} delay=$((RANDOM % 25))
    local how=$((RANDOM % 2)) new=$WORK/pages/$1.swap
    unique_page "$src" "$new"
    (
        sleep "$((delay / 10)).$((delay % 10))"
        f=$(find "$HOT/$name" "$SPOOL"/"$name".* -maxdepth 1 -name 'p1.*' 2>/dev/null | head -n1) || true
        [[ -n $f ]] || exit 0
        if [[ $how -eq 0 ]]; then
            cat "$new" >"$f" && echo "swap $name $f in place after ${delay}00 ms"
        else
            cp "$new" "$f.swp" && mv -f "$f.swp" "$f" && echo "swap $name $f renamed over after ${delay}00 ms"
        fi
    ) >>"$WORK/log/swaps" 2>&1 &
    log "harm: batch $name has p1 rewritten ($([[ $how -eq 0 ]] && echo in place || echo renamed over)) ${delay}00 ms after it was dropped"
}

# A rescan of a done job's page (one of examples/'s one-page scans).
replace_page() {
    local job pages page src f
    read -r job pages < <(q "SELECT id, pages FROM jobs WHERE state = 'done'
        ORDER BY random() LIMIT 1" | tr '|' ' ') || return 0
    [[ -n $job ]] || return 0
    page=$((RANDOM % pages + 1))
    src=${POOL[RANDOM % 5]}
    f=$WORK/pages/rescan-$job-$page-$RANDOM.${src##*.}
    unique_page "$src" "$f"
    if pm job replace-page "$job" "$page" "$f" >>"$WORK/log/replace" 2>&1; then
        log "harm: job $job page $page replaced by a rescan"
        REPLACED+=("$job")
    else
        log "harm: replace-page $job $page refused: $(tail -n1 "$WORK/log/replace")"
    fi
}

harm_named() {
    case $1 in
    worker)
        local -a ws
        mapfile -t ws < <(workers_of_serve)
        [[ ${#ws[@]} -gt 0 ]] || return 0
        local w=${ws[RANDOM % ${#ws[@]}]}
        log "harm: kill -9 worker $w"
        kill -KILL "$w" 2>/dev/null || true
        ;;
    coordinator) kill_coordinator '' ;;
    full) fill_volume ;;
    stop) stop_worker ;;
    publish) kill_mid_publish ;;
    swap) SWAP_NEXT=1 ;;
    fullwork) fill_work_volume ;;
    replace) replace_page ;;
    esac
}

harm() {
    if [[ -n $HARMS ]]; then
        harm_named "${HARM_LIST[RANDOM % ${#HARM_LIST[@]}]}"
        return
    fi
    local r=$((RANDOM % 10)) # CI's mix, as it always drew it
    if [[ $r -lt 5 ]]; then
        harm_named worker
    elif [[ $r -lt 8 ]]; then
        harm_named coordinator
    else
        harm_named full
    fi
}

# ---- the run ----

unsettled() {
    sqlite3 "$CATALOG" "SELECT count(*) FROM jobs WHERE state IN
        ('received','queued','running','assembling')" 2>/dev/null || echo 1
}

start_serve
FILLED_UNTIL=0 WORK_FILLED_UNTIL=0
end=$((SECONDS + MINUTES * 60))
next_harm=$((SECONDS + 10 + RANDOM % 20))
while [[ $SECONDS -lt $end ]]; do
    if ! kill -0 "$SERVE" 2>/dev/null; then
        log "the coordinator exited on its own; see $WORK/log/serve.log"
        wait "$SERVE" || true
        start_serve
    fi
    # a stream, not a flood: a new batch when fewer than 3 are in work
    if [[ $WORK_FILLED_UNTIL -eq 0 &&
        $(find "$HOT" -mindepth 1 -maxdepth 1 -name 'WO-*' | wc -l) -eq 0 &&
        $(unsettled) -lt 3 ]]; then
        drop_batch
    fi
    if [[ $WORK_FILLED_UNTIL -gt 0 && $SECONDS -ge $WORK_FILLED_UNTIL ]]; then
        rm -f "$VOL/.soak-filler"
        WORK_FILLED_UNTIL=0
        log "harm: catalog, spool and hot folder volume freed"
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
rm -f "$OUT/.soak-filler" "$VOL/.soak-filler"
log "feeding stopped after $NBATCH batches; waiting for every job to settle"

pending_replacements() {
    q "SELECT count(*) FROM page_replacements WHERE state = 'pending'" 2>/dev/null || echo 1
}
deadline=$((SECONDS + 900))
while [[ $(find "$HOT" -mindepth 1 -maxdepth 1 -name 'WO-*' | wc -l) -gt 0 ||
    $(unsettled) -gt 0 || $(pending_replacements) -gt 0 ]]; do
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
# A failing folder is copied out of the output volume, which goes at exit.
keep_evidence() { mkdir -p "$WORK/log/evidence" && cp -a "$1" "$WORK/log/evidence/" || true; }

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
        keep_evidence "$path"
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

# The spool holds, for every page of a done job, the bytes the catalog
# hashed at intake (or at the rescan that replaced it).
while IFS='|' read -r id page src sha; do
    got=$(sha256sum "$src" 2>/dev/null | cut -d' ' -f1)
    [[ $got == "$sha" ]] ||
        bad "job $id page $page: $src has SHA-256 ${got:-(unreadable)}, the catalog $sha"
done < <(q "SELECT t.job, t.page, t.src, t.sha256 FROM page_tasks t
    JOIN jobs j ON j.id = t.job WHERE j.state = 'done'")

while IFS='|' read -r id job state; do
    bad "replacement $id of job $job: $state"
done < <(q "SELECT id, job, state || coalesce(': ' || error, '') FROM page_replacements
    WHERE state = 'pending' OR (state = 'failed' AND coalesce(error, '') = '')")

while IFS='|' read -r id; do
    bad "job $id failed without a reason"
done < <(q "SELECT id FROM jobs WHERE state = 'failed' AND coalesce(error, '') = ''")

tmps=$(find "$OUT" "$SPOOL" -name '*.tmp*' 2>/dev/null | head -5)
[[ -z $tmps ]] || bad "temp files left: $tmps"

# Descriptors and RSS over the coordinator's longest life: the last quarter
# of its samples against the second quarter (after warm-up). Descriptors by
# their floor in each quarter: a batch being taken in holds its files open
# for a moment, a leak raises the floor.
if [[ -s $WORK/log/samples ]]; then
    longest=$(cut -d' ' -f1 "$WORK/log/samples" | sort | uniq -c | sort -rn |
        awk 'NR == 1 {print $2}')
    read -r fd_early fd_late rss_early rss_late nsamples at < <(awk -v p="$longest" '
        $1 == p { rss[n] = $2; fd[n] = $3; seq[n] = $4; n++ }
        END {
            a = int(n / 4); b = int(n / 2); c = int(3 * n / 4)
            fe = fl = 1e9
            for (i = a; i < b; i++) { fe = fd[i] < fe ? fd[i] : fe; re += rss[i] }
            for (i = c; i < n; i++) {
                if (fd[i] < fl) { fl = fd[i]; at = seq[i] }
                rl += rss[i]
            }
            printf "%d %d %d %d %d %d\n", fe, fl, re / (b - a > 0 ? b - a : 1),
                rl / (n - c > 0 ? n - c : 1), n, at
        }' "$WORK/log/samples")
    log "coordinator $longest over $nsamples samples: fds $fd_early -> $fd_late, RSS ${rss_early} -> ${rss_late} kB"
    if [[ $nsamples -ge 20 ]]; then
        if [[ $fd_late -gt $((fd_early + 4)) ]]; then
            bad "open descriptors grew: $fd_early -> $fd_late; at the last quarter's floor:"
            awk -v t="$at" '$1 == t { print "  fd " $2 " -> " $3 }' "$WORK/log/fds" >&2
        fi
        [[ $rss_late -le $((rss_early * 3 / 2 + 10240)) ]] || bad "RSS grew: $rss_early -> $rss_late kB"
    fi
fi

jobs_by_state=$(q "SELECT state || ' ' || count(*) FROM jobs GROUP BY state" | tr '\n' ',')
rejected=0
[[ -d $HOT/_rejected ]] && rejected=$(find "$HOT/_rejected" -mindepth 1 -maxdepth 1 | wc -l)
restarts=$(($(wc -l <"$WORK/log/pids") - 1))
[[ ${#REPLACED[@]} -eq 0 ]] || log "replacements: $(q "SELECT state || ' ' || count(*)
    FROM page_replacements GROUP BY state" | paste -sd, -)"
log "batches $NBATCH; jobs: ${jobs_by_state%,}; rejected $rejected; coordinator restarts $restarts"
log "pages done $(q "SELECT count(*) FROM page_tasks WHERE state = 'done'"), billable $(q "SELECT count(*) FROM billable_pages WHERE blank = 0")"
if [[ $FAIL -eq 0 ]]; then
    log "soak: PASS ($WORK)"
else
    log "soak: FAILED; logs in $WORK/log"
fi
exit $FAIL
