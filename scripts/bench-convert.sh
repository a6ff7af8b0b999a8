#!/usr/bin/env bash
# Convert benchmark: pagemill vs OCRmyPDF vs a bare tesseract loop, on
# documents made of the fixed page batch in scripts/bench-pages.txt.
#
# usage: scripts/bench-convert.sh [--build DIR] [--data DIR] [--work DIR] [--quick]
#                                 [--runs N] [--mode document|page|both] [--classes "C ..."]
#                                 [--tools "T ..."]
#
#   --build DIR    where the pagemill binary is (default: build, in the repo root)
#   --data DIR     the shared test data (default: ../shared/data from the repo root)
#   --work DIR     scratch/results dir (default: a new mktemp dir, kept afterwards)
#   --quick        first 4 pages of each class of bench-pages.txt only; smoke test
#   --runs N       timed runs of every tool on every class (default 1; 3 for figures)
#   --mode M       document (default): each class is one multi-page document;
#                  page: every page its own input (the benchmark before documents);
#                  both: the two, one after the other in each run
#   --classes L    classes to run, from: bitonal gray colour skewed mixed
#                  (default: all; page mode has no mixed)
#   --tools L      tools to run, from: pagemill ocrmypdf tesseract (default: all)
#
# What it does, all in one run on the same input files:
#   1. builds the batch (scripts/bench-lib.sh): the pages of bench-pages.txt
#      into WORK/in/{bitonal,gray,skewed}, skewed copies by scripts/bench-skew.c,
#      untagged files copied with their dpi column written in; the gray class
#      is split into gray and colour by the file's pixels; the mixed class is 8
#      pages taken across the classes (bitonal, colour, gray, skewed);
#   2. document mode: each class becomes one folder WORK/docs/CLASS of hard links
#      named in page order, and each tool makes one document of it the way its
#      users do, with OMP_THREAD_LIMIT=1 and two pages in flight:
#        pagemill   pagemill convert --jobs 2 --out OUT WORK/docs/CLASS
#        ocrmypdf   img2pdf -o CLASS.img.pdf PAGES... then
#                   ocrmypdf --jobs 2 --deskew --output-type pdfa
#                            --sidecar CLASS.txt CLASS.img.pdf CLASS.pdf
#        tesseract  tesseract PAGE OUTBASE txt pdf for each page, 2 at a time
#                   (xargs -P 2): the engine alone, the limit of what
#                   recognition costs (one PDF per page, no document)
#      page mode: every page its own input, as the benchmark ran before:
#        pagemill convert --jobs 2 PAGES... (one document per page); ocrmypdf
#        --jobs 1 per page and tesseract per page, 2 at a time (xargs -P 2);
#   3. each tool's run is timed with /usr/bin/time -v (wall time, peak RSS of
#      the largest process); the three tools run one after the other on a
#      class before the next class, so a run's ratios are taken close in time;
#   4. scores the text of the pages that have ground truth (scripts/cer.py;
#      a document's text is split into pages at form feeds), measures bytes
#      per page (whole PDFs and their image streams as stored, qpdf --json),
#      and reads where pagemill's time went: the stages of every page
#      (.pages.json) and the run's timeline (the debug log of convert: inputs
#      scanned, first page begun, last page back, done) against the wall time,
#      and the archival outputs' ms per page from the reports (convert writes
#      no TIFF master, ALTO or bag: they read 0);
#   5. prints the tables with the load average (uptime) of every run and
#      writes them as markdown to WORK/bench-convert.md (for docs/benchmarks.md).

set -euo pipefail

usage() {
    sed -n '4,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=bench-convert
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"   # die, log, stem_of, bench_build_batch,
                                     # bench_parse_args, bench_resolve_dirs
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

BUILD=$ROOT/build
DATA=$ROOT/../shared/data
WORK=
QUICK=0
RUNS=1
MODE=document
CLASSES_ARG="bitonal gray colour skewed mixed"
TOOLS_ARG="pagemill ocrmypdf tesseract"

bench_parse_args "--build=BUILD --data=DATA --work=WORK --quick!QUICK --runs=RUNS
    --mode=MODE --classes=CLASSES_ARG --tools=TOOLS_ARG" "$@"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number"
[[ $MODE == document || $MODE == page || $MODE == both ]] || die "--mode must be document, page or both"
read -r -a CLASSES <<<"$CLASSES_ARG"
for c in "${CLASSES[@]}"; do
    [[ $c =~ ^(bitonal|gray|colour|skewed|mixed)$ ]] || die "unknown class '$c'"
done
MODES=("$MODE")
[[ $MODE == both ]] && MODES=(document page)

[[ -d $DATA ]] || die "data dir not found: $DATA"
DATA=$(cd "$DATA" && pwd)
bench_resolve_dirs --optional # WORK, BUILD, PAGEMILL (may be missing)

for tool in /usr/bin/time python3 cc pkg-config; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
pkg-config --exists lept || die "needs the Leptonica development files (pkg-config lept)"
# A Python with Pillow tells colour files from gray ones (ocrmypdf needs it too).
PY_PIL=
for py in python3 /usr/bin/python3; do
    if "$py" -c 'import PIL' 2>/dev/null; then
        PY_PIL=$py
        break
    fi
done
[[ -n $PY_PIL ]] || die "needs Python with Pillow (python3-pil) to tell colour pages from gray"

# ---------------------------------------------------------------------------
# 1. The batch (bench-lib.sh), the colour and mixed classes, the documents.
# ---------------------------------------------------------------------------
for d in out logs docs; do
    rm -rf "${WORK:?}/$d"
    mkdir -p "$WORK/$d"
done
bench_build_batch

# gray.tsv -> gray.tsv (L, LA, 1, P in gray) + colour.tsv (RGB and the like)
"$PY_PIL" - "$WORK/lists/gray.tsv" "$WORK/lists/colour.tsv" <<'PY'
import sys
from PIL import Image
src, colour = sys.argv[1], sys.argv[2]
gray_rows, colour_rows = [], []
for line in open(src):
    path = line.split("\t")[0]
    with Image.open(path) as im:
        is_colour = im.mode not in ("1", "L", "LA", "I", "I;16", "F") and not (
            im.mode == "P" and all(r == g == b for r, g, b in
                                   zip(*[iter(im.getpalette()[:768])] * 3)))
    (colour_rows if is_colour else gray_rows).append(line)
open(src, "w").writelines(gray_rows)
open(colour, "w").writelines(colour_rows)
PY

# mixed: 8 pages across the classes, in this order (the first pages of each
# class list, which are those with ground truth).
: >"$WORK/lists/mixed.tsv"
for pick in bitonal:1 colour:1 bitonal:2 skewed:1 gray:1 bitonal:3 skewed:2 colour:2; do
    sed -n "${pick#*:}p" "$WORK/lists/${pick%%:*}.tsv" >>"$WORK/lists/mixed.tsv"
done

# WORK/docs/CLASS: hard links named in page order (p01-..., natural order);
# pagemill never follows a symbolic link.
for c in bitonal gray colour skewed mixed; do
    mkdir -p "$WORK/docs/$c"
    n=0
    while IFS=$'\t' read -r in _ _; do
        n=$((n + 1))
        ln "$in" "$WORK/docs/$c/$(printf 'p%02d' "$n")-${in##*/}"
    done <"$WORK/lists/$c.tsv"
done

for c in "${CLASSES[@]}"; do
    log "$c: $(wc -l <"$WORK/lists/$c.tsv") pages"
done

# ---------------------------------------------------------------------------
# 2-3. Timed runs.
# ---------------------------------------------------------------------------
export OMP_THREAD_LIMIT=1
RESULTS=$WORK/logs/results.tsv
printf 'run\tmode\ttool\tclass\tpages\tok\tseconds\trss_kb\trc\tload\n' >"$RESULTS"

# wall-clock "h:mm:ss" or "m:ss.ss" from time -v -> seconds
parse_elapsed() {
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0
        for (k = 1; k <= n; k++) s = s * 60 + p[k]
        printf "%.2f", s }' "$1"
}
parse_rss() {
    awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"
}

# run_timed TAG CMD... ; output of CMD goes to logs/TAG.log
run_timed() {
    local tag=$1 rc=0
    shift
    local tf=$WORK/logs/$tag.time
    log "$tag"
    /usr/bin/time -v -o "$tf" "$@" >"$WORK/logs/$tag.log" 2>&1 || rc=$?
    [[ $rc -eq 0 ]] || echo "   $tag exited with status $rc (see $WORK/logs/$tag.log)" >&2
    LAST_SECONDS=$(parse_elapsed "$tf")
    LAST_RSS=$(parse_rss "$tf")
    LAST_RC=$rc
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# count_ok MODE TOOL CLASS OUT: pages whose outputs exist
count_ok() {
    local mode=$1 tool=$2 class=$3 out=$4 n=0 f
    if [[ $mode == document && $tool == pagemill ]]; then
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["converted"])' \
            "$out/$class.pages.json" 2>/dev/null || echo 0
        return
    fi
    if [[ $mode == document && $tool == ocrmypdf ]]; then
        [[ -s $out/$class.pdf ]] && qpdf --show-npages "$out/$class.pdf" 2>/dev/null || echo 0
        return
    fi
    # One output per page: pagemill's report, or a PDF with its text.
    for f in "$out"/*.pdf; do
        [[ -s $f ]] || continue
        if [[ $tool == pagemill ]]; then
            [[ -s ${f%.pdf}.pages.json ]] && n=$((n + 1))
        else
            [[ -f ${f%.pdf}.txt ]] && n=$((n + 1))
        fi
    done
    echo "$n"
}

# doc_link CLASS FILE: the link to FILE in WORK/docs/CLASS
doc_link() {
    local l
    for l in "$WORK/docs/$1"/*; do
        [[ $l -ef $2 ]] && { printf '%s' "$l"; return; }
    done
}

record() { # RUN MODE TOOL CLASS OUT LOAD
    local pages
    pages=$(wc -l <"$WORK/lists/$4.tsv")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$pages" \
        "$(count_ok "$2" "$3" "$4" "$5")" "$LAST_SECONDS" "$LAST_RSS" "$LAST_RC" "$6" >>"$RESULTS"
}

# One tesseract page; called by xargs in a child bash.
tess_one() {
    local in=$1 outdir=$2 b base
    b=${in##*/}
    base=$outdir/${b%.*}
    if ! tesseract "$in" "$base" txt pdf >"$base.log" 2>&1; then
        echo "tesseract failed on $in (see $base.log)" >&2
        return 1
    fi
}
# One ocrmypdf page (page mode); called by xargs in a child bash. Every
# input is one page, so two ocrmypdf processes run side by side.
ocrmypdf_one() {
    local in=$1 outdir=$2 b base
    b=${in##*/}
    base=$outdir/${b%.*}
    if ! ocrmypdf --jobs 1 --deskew --output-type pdfa --sidecar "$base.txt" \
        "$in" "$base.pdf" >"$base.log" 2>&1; then
        echo "ocrmypdf failed on $in (see $base.log)" >&2
        return 1
    fi
}
# A document the way OCRmyPDF's users make one from a batch of images.
ocrmypdf_doc() {
    local out=$1 name=$2
    shift 2
    img2pdf -o "$out/$name.img.pdf" "$@" &&
        ocrmypdf --jobs 2 --deskew --output-type pdfa --sidecar "$out/$name.txt" \
            "$out/$name.img.pdf" "$out/$name.pdf"
}
# loop2 FN OUT FILE...: FN FILE OUT for every file, two at a time.
loop2() {
    local fn=$1 out=$2
    shift 2
    printf '%s\0' "$@" | FN=$fn OUT=$out xargs -0 -n 1 -P 2 bash -c '"$FN" "$0" "$OUT"'
}
export -f tess_one ocrmypdf_one ocrmypdf_doc loop2

wanted() { [[ " $TOOLS_ARG " == *" $1 "* ]]; }
TOOLS_RUN=()
if ! wanted pagemill; then
    :
elif [[ -x $PAGEMILL ]]; then
    TOOLS_RUN+=(pagemill)
else
    echo "bench-convert: SKIPPING pagemill: no executable $PAGEMILL (build it, or pass --build DIR)" >&2
fi
if ! wanted ocrmypdf; then
    :
elif command -v ocrmypdf >/dev/null; then
    if command -v img2pdf >/dev/null || [[ $MODE == page ]]; then
        TOOLS_RUN+=(ocrmypdf)
    else
        echo "bench-convert: SKIPPING ocrmypdf: documents need img2pdf (apt-get install img2pdf)" >&2
    fi
else
    echo "bench-convert: SKIPPING ocrmypdf: not installed" >&2
fi
if ! wanted tesseract; then
    :
elif command -v tesseract >/dev/null; then
    TOOLS_RUN+=(tesseract)
else
    echo "bench-convert: SKIPPING tesseract: not installed" >&2
fi

# Host facts now: GNU nproc obeys OMP_THREAD_LIMIT, which is exported above.
BENCH_NPROC=$(env -u OMP_THREAD_LIMIT -u OMP_NUM_THREADS nproc)
BENCH_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
BENCH_TESSERACT=$(tesseract --version 2>&1 | head -n1 || true)
BENCH_OCRMYPDF=$(ocrmypdf --version 2>/dev/null || true)
BENCH_IMG2PDF=$(img2pdf --version 2>/dev/null || true)
BENCH_PAGEMILL="skipped (no $PAGEMILL)"
if [[ -x $PAGEMILL ]]; then
    BENCH_PAGEMILL="$("$PAGEMILL" version 2>/dev/null | head -n1 || true), $PAGEMILL (built $(date -r "$PAGEMILL" '+%Y-%m-%d %H:%M'))"
fi
export BENCH_NPROC BENCH_CPU BENCH_TESSERACT BENCH_OCRMYPDF BENCH_IMG2PDF BENCH_PAGEMILL

UPTIMES=$WORK/logs/uptime.txt
echo "start: $(uptime)" | tee "$UPTIMES" >&2
for ((r = 1; r <= RUNS; r++)); do
    for mode in "${MODES[@]}"; do
        for c in "${CLASSES[@]}"; do
            [[ $mode == page && $c == mixed ]] && continue
            list=$WORK/lists/$c.tsv
            [[ -s $list ]] || continue
            files=()
            if [[ $mode == document ]]; then
                for f in "$WORK/docs/$c"/*; do files+=("$f"); done
            else
                while IFS=$'\t' read -r in _ _; do files+=("$in"); done <"$list"
            fi
            for tool in "${TOOLS_RUN[@]}"; do
                out=$WORK/out/r$r/$mode/$tool/$c
                mkdir -p "$out"
                tag=r$r-$mode-$tool-$c
                load=$(load1)
                case $tool-$mode in
                    pagemill-document)
                        run_timed "$tag" env PAGEMILL_LOG=debug \
                            "$PAGEMILL" convert --jobs 2 --out "$out" "$WORK/docs/$c" ;;
                    pagemill-page)
                        run_timed "$tag" "$PAGEMILL" convert --jobs 2 --out "$out" "${files[@]}" ;;
                    ocrmypdf-document)
                        run_timed "$tag" bash -c 'ocrmypdf_doc "$@"' _ "$out" "$c" "${files[@]}" ;;
                    ocrmypdf-page)
                        run_timed "$tag" bash -c 'loop2 "$@"' _ ocrmypdf_one "$out" "${files[@]}" ;;
                    tesseract-*)
                        run_timed "$tag" bash -c 'loop2 "$@"' _ tess_one "$out" "${files[@]}" ;;
                esac
                record "$r" "$mode" "$tool" "$c" "$out" "$load"
            done
        done
    done
    echo "after run $r: $(uptime)" | tee -a "$UPTIMES" >&2
done

# ---------------------------------------------------------------------------
# 4. CER (run 1), bytes per page (run 1).
# ---------------------------------------------------------------------------
CER=$WORK/logs/cer.tsv
printf 'mode\tclass\tpage\tfile\tground_truth\ttool\tcer\n' >"$CER"
PAGETXT=$WORK/logs/pagetext
mkdir -p "$PAGETXT"
# page_text MODE TOOL CLASS K IN: the text of page K (1-based) of the class
# into a file; prints its path, or nothing when there is none.
page_text() {
    local mode=$1 tool=$2 c=$3 k=$4 in=$5 out=$WORK/out/r1/$1/$2/$3 src
    if [[ $mode == document && $tool != tesseract ]]; then
        src=$out/$c.txt
        [[ -f $src ]] || return 0
        python3 - "$src" "$k" "$PAGETXT/$mode-$tool-$c-$k.txt" <<'PY'
import sys
pages = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\f")
k = int(sys.argv[2])
open(sys.argv[3], "w").write(pages[k - 1] if k <= len(pages) else "")
PY
        printf '%s' "$PAGETXT/$mode-$tool-$c-$k.txt"
    else
        [[ $mode == document ]] && in=$(doc_link "$c" "$in")
        src=$out/$(stem_of "$in").txt
        [[ -f $src ]] && printf '%s' "$src"
    fi
}
for mode in "${MODES[@]}"; do
    for c in "${CLASSES[@]}"; do
        [[ $mode == page && $c == mixed ]] && continue
        k=0
        while IFS=$'\t' read -r in _ gt; do
            k=$((k + 1))
            [[ $gt == - ]] && continue
            for tool in "${TOOLS_RUN[@]}"; do
                hyp=$(page_text "$mode" "$tool" "$c" "$k" "$in")
                if [[ -n $hyp ]]; then
                    v=$(python3 "$SCRIPT_DIR/cer.py" "$gt" "$hyp") || v=error
                else
                    v=missing
                fi
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$c" "$k" "${in##*/}" \
                    "${gt#"$DATA"/}" "$tool" "$v" >>"$CER"
            done
        done <"$WORK/lists/$c.tsv"
    done
done

# Output bytes per tool and class: whole PDFs, and the image streams in them
# as stored (their /Length), which is what the encoder decides.
BYTES=$WORK/logs/bytes.tsv
printf 'mode\ttool\tclass\tpages\tpdf_bytes\timage_bytes\n' >"$BYTES"
if command -v qpdf >/dev/null; then
    for mode in "${MODES[@]}"; do
        for tool in "${TOOLS_RUN[@]}"; do
            for c in "${CLASSES[@]}"; do
                [[ $mode == page && $c == mixed ]] && continue
                out=$WORK/out/r1/$mode/$tool/$c
                pdfs=()
                if [[ $mode == document && $tool != tesseract ]]; then
                    [[ -s $out/$c.pdf ]] && pdfs=("$out/$c.pdf")
                    n=$(count_ok "$mode" "$tool" "$c" "$out")
                else
                    for f in "$out"/*.pdf; do [[ -s $f ]] && pdfs+=("$f"); done
                    n=${#pdfs[@]}
                fi
                [[ ${#pdfs[@]} -gt 0 ]] || continue
                pdfb=$(stat -c %s "${pdfs[@]}" | awk '{ s += $1 } END { print s }')
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$tool" "$c" "$n" "$pdfb" \
                    "$(image_bytes "${pdfs[@]}")" >>"$BYTES"
            done
        done
    done
else
    echo "bench-convert: no qpdf: bytes per page not measured" >&2
fi

# pagemill's timeline per document run, from its debug log.
TIMELINE=$WORK/logs/timeline.tsv
printf 'run\tclass\tscanned\tfirst\tlast\tdone\twork\tworkers\n' >"$TIMELINE"
for ((r = 1; r <= RUNS; r++)); do
    for c in "${CLASSES[@]}"; do
        f=$WORK/logs/r$r-document-pagemill-$c.log
        [[ -f $f ]] || continue
        sed -n 's/.* timeline: scanned \([0-9]*\) ms, first page \([0-9-]*\) ms, last page \([0-9]*\) ms, done \([0-9]*\) ms; page work \([0-9]*\) ms on \([0-9]*\) workers.*/\1\t\2\t\3\t\4\t\5\t\6/p' "$f" |
            head -n1 | sed "s/^/$r\t$c\t/" >>"$TIMELINE"
    done
done

# ---------------------------------------------------------------------------
# 5. Report.
# ---------------------------------------------------------------------------
export BENCH_WORK=$WORK BENCH_QUICK=$QUICK BENCH_RUNS=$RUNS BENCH_MODES="${MODES[*]}" \
    BENCH_CLASSES="${CLASSES[*]}"
python3 "$SCRIPT_DIR/bench-convert-report.py"
log "markdown written to $WORK/bench-convert.md (logs and outputs under $WORK)"
