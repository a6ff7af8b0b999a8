#!/usr/bin/env bash
# MRC benchmark: bytes per page and OCR of the rendered page, for the
# default profile (gray and colour pages as one JPEG) against a profile with
# `compression = mrc` (a G4 text mask over a 1/3-resolution JPEG
# background), on the real gray and colour pages of the shared data and
# on the examples/ batch.
#
# usage: scripts/bench-mrc.sh [--build DIR] [--data DIR] [--work DIR]
#
#   --build DIR  where the pagemill binary is (default: build)
#   --data DIR   the shared test data (default: ../shared/data)
#   --work DIR   scratch/results dir (default: a new mktemp dir, kept)
#
# Per page: each file is converted alone (one one-page document) with
# both profiles; image bytes are the page's image streams as stored in
# the PDF (their /Length, qpdf --json); each output PDF is rendered with
# pdftoppm at 300 dpi and read with the tesseract CLI (eng), and scored
# with scripts/cer.py against the ground truth where the data has it, else
# against the text pagemill wrote for the plain page. Targets: mrc bytes
# <= 1/3 of plain, and mrc CER <= plain CER + 0.01 (except on pages whose
# text no installed model reads, marked in PAGES). Writes the table to
# WORK/bench-mrc.md and exits 1 when a page misses a target.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD=$ROOT/build
DATA=$ROOT/../shared/data
WORK=

while [[ $# -gt 0 ]]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -h | --help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-mrc: unknown argument: $1" >&2; exit 2 ;;
    esac
done

BENCH_NAME=bench-mrc
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh" # die, image_bytes
for tool in qpdf pdftoppm pdfimages tesseract python3; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
PAGEMILL=$(cd "$BUILD" && pwd)/pagemill
[[ -x $PAGEMILL ]] || die "no pagemill binary in $BUILD (build it first)"
[[ -d $DATA ]] || die "data dir not found: $DATA"
DATA=$(cd "$DATA" && pwd)
[[ -n $WORK ]] || WORK=$(mktemp -d /tmp/bench-mrc.XXXXXX)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
rm -rf "$WORK/in" "$WORK/out" "$WORK/render"
mkdir -p "$WORK/in" "$WORK/out/plain" "$WORK/out/mrc" "$WORK/render"
export OMP_THREAD_LIMIT=1

# path (under the data dir, or examples/...), ground truth ("-": none),
# and whether the page's OCR is held to the CER target: "-" yes, else why
# not (text no installed model reads: eng OCR of it is noise on both
# sides, shown for information). The gray and colour pages of
# scripts/bench-pages.txt and of the bytes per page table in
# docs/benchmarks.md, then the examples batch.
PAGES=(
    "ocrmypdf/tests/resources/poster.pdf ocrmypdf/tests/resources/linn.txt -"
    "leptonica/prog/lucasta.047.jpg - -"
    "leptonica/prog/cat.007.jpg - -"
    "leptonica/prog/1555.003.jpg - 16th-century-Fraktur"
    "tesseract-test/testing/hebrew-nikud-genesis-1-2.png - Hebrew"
    "unpaper/tests/source_images/imgsrc003.png - -"
    "unpaper/tests/source_images/imgsrc004.png - -"
    "ocrmypdf/tests/resources/baiona.png - -"
    "leptonica/prog/harmoniam100-11.png - -"
    "tesseract-test/testing/devatest-rotated-270.png - Devanagari"
    "ocrd-gt-structure-text/data/laube_europa0202_1837/GT-PAGE/laube_europa0202_1837_0006.jpg - -"
    "examples/WO-2026-0001/p001.tif - -"
    "examples/WO-2026-0001/p002.tif - -"
    "examples/WO-2026-0001/p003.jpg - -"
    "examples/WO-2026-0001/p004.png - -"
    "examples/WO-2026-0001/p005.tif - -"
)

# Inputs under WORK/in with unique names; a .pdf gives its one image as is.
: >"$WORK/list.tsv"
for entry in "${PAGES[@]}"; do
    read -r rel gt why <<<"$entry"
    case $rel in
    examples/*) src=$ROOT/$rel; name=ex-$(basename "$rel") ;;
    *) src=$DATA/$rel; name=$(basename "$rel") ;;
    esac
    [[ -f $src ]] || die "missing page: $src"
    if [[ $src == *.pdf ]]; then
        pdfimages -j "$src" "$WORK/in/tmp"
        mv "$WORK/in"/tmp-000.* "$WORK/in/${name%.pdf}.jpg"
        name=${name%.pdf}.jpg
    else
        cp "$src" "$WORK/in/$name"
    fi
    [[ $gt == - ]] || gt=$DATA/$gt
    printf '%s\t%s\t%s\n' "$name" "$gt" "$why" >>"$WORK/list.tsv"
done

cat >"$WORK/mrc.ini" <<'EOF'
[profile default]
compression = mrc
EOF
cat >"$WORK/plain.ini" <<'EOF'
[profile default]
compression = plain
EOF

echo "bench-mrc: converting $(wc -l <"$WORK/list.tsv") pages twice" >&2
for prof in plain mrc; do
    (cd "$WORK/in" && "$PAGEMILL" convert --jobs 2 --config "$WORK/$prof.ini" \
        --out "$WORK/out/$prof" $(cut -f1 "$WORK/list.tsv")) \
        >"$WORK/$prof.log" 2>&1 || die "convert ($prof) failed: see $WORK/$prof.log"
done

echo "bench-mrc: rendering at 300 dpi and reading with tesseract" >&2
for prof in plain mrc; do
    while IFS=$'\t' read -r name gt why; do
        printf '%s\n' "$prof/${name%.*}"
    done <"$WORK/list.tsv"
done | xargs -P 2 -I{} sh -c '
    mkdir -p "$(dirname "$1/render/{}")"
    pdftoppm -r 300 -singlefile -png "$1/out/{}.pdf" "$1/render/{}" &&
    tesseract "$1/render/{}.png" "$1/render/{}" -l eng >/dev/null 2>&1
' sh "$WORK"

kind_of() { # pages.json -> bitonal/gray/color of its one page
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["page_results"][0]["kind"])' "$1"
}

MD=$WORK/bench-mrc.md
FAIL=0
{
    echo "| page | class | plain bytes | mrc bytes | mrc/plain | CER plain | CER mrc | reference |"
    echo "|---|---|---:|---:|---:|---:|---:|---|"
} >"$MD"
TOT=$WORK/totals.tsv
: >"$TOT"
while IFS=$'\t' read -r name gt why; do
    stem=${name%.*}
    kind=$(kind_of "$WORK/out/plain/$stem.pages.json")
    pb=$(image_bytes "$WORK/out/plain/$stem.pdf")
    mb=$(image_bytes "$WORK/out/mrc/$stem.pdf")
    qpdf --check "$WORK/out/mrc/$stem.pdf" >/dev/null || die "$stem: mrc PDF fails qpdf --check"
    if [[ $gt == - ]]; then ref=$WORK/out/plain/$stem.txt; refname="plain text"
    else ref=$gt; refname="ground truth"; fi
    cp=$(python3 "$SCRIPT_DIR/cer.py" "$ref" "$WORK/render/plain/$stem.txt")
    cm=$(python3 "$SCRIPT_DIR/cer.py" "$ref" "$WORK/render/mrc/$stem.txt")
    ratio=$(python3 -c "print(f'{$mb / $pb:.2f}')")
    mark=
    if [[ $kind != bitonal ]]; then
        python3 -c "import sys; sys.exit(0 if $mb * 3 <= $pb else 1)" ||
            { mark=" (missed)"; FAIL=1; }
    fi
    cmark=
    if [[ $why != - ]]; then
        cmark=" (${why//-/ }: not held)"
    elif [[ $kind != bitonal ]]; then
        python3 -c "import sys; sys.exit(0 if $cm <= $cp + 0.01 else 1)" ||
            { cmark=" (missed)"; FAIL=1; }
    fi
    printf '| %s | %s | %s | %s | %s%s | %s | %s%s | %s |\n' "$stem" "$kind" \
        "$pb" "$mb" "$ratio" "$mark" "$cp" "$cm" "$cmark" "$refname" >>"$MD"
    printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$pb" "$mb" "$cp" "$cm" >>"$TOT"
done <"$WORK/list.tsv"
python3 - "$TOT" >>"$MD" <<'EOF'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
for kind in ("gray", "color", "bitonal"):
    r = [x for x in rows if x[0] == kind]
    if not r:
        continue
    pb = sum(int(x[1]) for x in r)
    mb = sum(int(x[2]) for x in r)
    cp = sum(float(x[3]) for x in r) / len(r)
    cm = sum(float(x[4]) for x in r) / len(r)
    print(f"| **{kind}, {len(r)} pages** | | {pb} | {mb} | {mb / pb:.2f} "
          f"| {cp:.4f} (mean) | {cm:.4f} (mean) | |")
EOF
cat "$MD"
echo "bench-mrc: table in $MD, outputs under $WORK" >&2
exit $FAIL
