#!/usr/bin/env bash
# Orientation benchmark: how often pages come out upright, turned wrong or
# left as scanned, and what deciding costs, for this build's pagemill and a
# baseline pagemill (e.g. a build of an older commit) on the same pages.
#
# usage: scripts/bench-orient.sh [--build DIR] [--old BIN] [--data DIR] [--work DIR]
#
#   --build DIR  where this build's pagemill is (default: build)
#   --old BIN    the baseline pagemill binary (default: none, new only)
#   --data DIR   the shared test data (default: ../shared/data)
#   --work DIR   scratch/results dir (default: a new mktemp dir, kept)
#
# What it does:
#   1. writes every page of scripts/bench-orient.pages (all upright as
#      stored) turned 0/90/180/270 degrees clockwise, each also skewed by
#      +/-2 degrees, into WORK/pages (scripts/bench-orient-pages.c);
#   2. converts WORK/pages as one document with each binary: convert
#      --jobs 1, OCR and deskew off (orientation only decides; OCR would
#      only add time), OMP_THREAD_LIMIT=1;
#   3. from each WORK/out-*/pages.pages.json prints per kind and turn how
#      many pages came out right (turned upright, or left alone when
#      upright), wrong (turned, but not upright) or left as scanned while
#      turned, and the orientation time per page (ms.orient) by the way the
#      new build decided; writes it as markdown to WORK/bench-orient.md.

set -euo pipefail

usage() {
    sed -n '6,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=bench-orient
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh" # die, log, bench_parse_args, ...
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

BUILD=$ROOT/build
DATA=$ROOT/../shared/data
WORK=
OLD=

bench_parse_args "--build=BUILD --old=OLD --data=DATA --work=WORK" "$@"

[[ -d $DATA ]] || die "data dir not found: $DATA"
DATA=$(cd "$DATA" && pwd)
# shellcheck disable=SC2119 # no options: the binary must exist
bench_resolve_dirs # WORK, BUILD, PAGEMILL
[[ -z $OLD || -x $OLD ]] || die "no executable baseline $OLD"
command -v python3 >/dev/null || die "needs python3"

bench_compile bench-orient-pages
rm -rf "$WORK/pages"
mkdir -p "$WORK/pages"
log "writing the pages into $WORK/pages"
"$WORK/bin/bench-orient-pages" "$SCRIPT_DIR/bench-orient.pages" "$DATA" \
    "$WORK/pages" 2

cat >"$WORK/bench.ini" <<EOF
[profile default]
languages = eng
ocr = no
deskew = no
EOF

# run NAME BIN: converts WORK/pages into WORK/out-NAME.
run() {
    local name=$1 bin=$2 t0 t1
    rm -rf "$WORK/out-$name"
    mkdir -p "$WORK/out-$name"
    log "$name: $bin convert ($(find "$WORK/pages" -name '*.png' | wc -l) pages)"
    t0=$(date +%s)
    OMP_THREAD_LIMIT=1 "$bin" convert --jobs 1 --config "$WORK/bench.ini" \
        --out "$WORK/out-$name" "$WORK/pages" >"$WORK/out-$name.log" 2>&1 ||
        die "$name: convert failed, see $WORK/out-$name.log"
    t1=$(date +%s)
    log "$name: $((t1 - t0)) s"
}

[[ -z $OLD ]] || run old "$OLD"
run new "$PAGEMILL"

python3 "$SCRIPT_DIR/bench-orient.py" "$WORK" | tee "$WORK/bench-orient.md"
log "results in $WORK/bench-orient.md"
