#!/usr/bin/env bash
# bench-assembly.sh: memory and time of assembling large documents
# (docs/benchmarks.md, "Assembly of large documents").
#
# usage: scripts/bench-assembly.sh [--build DIR] [--before BINARY]
#                                  [--work DIR] [--pages "100 1000 5000"]
#                                  [--kinds "bitonal gray"]
#
# For each kind and page count: synthetic pages (scripts/bench-synth.c:
# bitonal G4, or gray JPEG with paper noise, 1700 x 2200 at 200 dpi) in one
# folder, converted as one document by `pagemill convert --jobs 2` with OCR
# off (profile `bench`: ocr = no, orient = no), under /usr/bin/time -v. Its
# "Maximum resident set size" is that of the largest process of the run:
# the worker that assembled the document (page workers on these pages stay
# far below it). Reported per run: peak RSS, wall time, PDF bytes, and the
# assembly's time from the report (.pages.json: assembly_ms) per page.
# With --before, the same runs with that binary too (a build of main).
# Writes WORK/bench-assembly.md (markdown) and WORK/bench-assembly.tsv.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD=$ROOT/build
BEFORE=
WORK=${TMPDIR:-/tmp}/bench-assembly
PAGES="100 1000 5000"
KINDS="bitonal gray"

die() {
    echo "bench-assembly: $*" >&2
    exit 1
}

while [[ $# -gt 0 ]]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --before) BEFORE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --pages) PAGES=$2; shift 2 ;;
    --kinds) KINDS=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
    esac
done
[[ -x $BUILD/pagemill ]] || die "no $BUILD/pagemill (build it, or pass --build)"
[[ -z $BEFORE || -x $BEFORE ]] || die "no executable $BEFORE"
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

cc -O2 -o "$WORK/bench-synth" "$SCRIPT_DIR/bench-synth.c" \
    $(pkg-config --cflags --libs lept) || die "cannot compile bench-synth"

cat >"$WORK/bench.ini" <<'INI'
[profile bench]
languages = eng
ocr = no
orient = no
INI

# pages KIND N: WORK/in/KIND-N with N pages (made once, kept).
pages() {
    local dir=$WORK/in/$1-$2
    if [[ ! -f $dir/.done ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        if [[ $1 == gray ]]; then
            "$WORK/bench-synth" "$dir" 1 "$2" 1700 2200 200 gray
        else
            "$WORK/bench-synth" "$dir" 1 "$2" 1700 2200 200
        fi
        touch "$dir/.done"
    fi
    printf '%s' "$dir"
}

# run LABEL BINARY KIND N: one conversion, one line of the table.
run() {
    local label=$1 bin=$2 kind=$3 n=$4 in out log rss wall bytes asm
    in=$(pages "$kind" "$n")
    out=$WORK/out/$label-$kind-$n
    log=$WORK/out/$label-$kind-$n.time
    rm -rf "$out"
    mkdir -p "$out"
    echo "== $label $kind $n pages" >&2
    OMP_THREAD_LIMIT=1 /usr/bin/time -v -o "$log" "$bin" convert --quiet \
        --jobs 2 --config "$WORK/bench.ini" --profile bench --out "$out" \
        "$in" || die "$label $kind $n: convert failed (see $log)"
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
    bytes=$(stat -c %s "$out/$kind-$n.pdf")
    asm=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
def find(o):
    if isinstance(o,dict):
        for k,v in o.items():
            if k=="assembly_ms": return v
            r=find(v)
            if r is not None: return r
    if isinstance(o,list):
        for v in o:
            r=find(v)
            if r is not None: return r
print(find(d))' "$out/$kind-$n.pages.json")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$kind" "$n" \
        "$rss" "$wall" "$bytes" "$asm" >>"$WORK/bench-assembly.tsv"
    rm -rf "$out" # the PDFs are large: only their sizes are kept
}

: >"$WORK/bench-assembly.tsv"
for kind in $KINDS; do
    for n in $PAGES; do
        [[ -n $BEFORE ]] && run before "$BEFORE" "$kind" "$n"
        run after "$BUILD/pagemill" "$kind" "$n"
    done
done

{
    echo "| build | pages | count | peak RSS (MiB) | wall | PDF (MiB) | assembly ms/page |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %d | %.0f | %s | %.1f | %.2f |\n",
        $1, $2, $3, $4 / 1024, $5, $6 / 1048576, $7 / $3 }' \
        "$WORK/bench-assembly.tsv"
} >"$WORK/bench-assembly.md"
cat "$WORK/bench-assembly.md"
