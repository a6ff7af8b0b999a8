#!/usr/bin/env bash
# Convert benchmark: pagemill vs a plain tesseract loop vs ocrmypdf, on the
# fixed page batch in scripts/bench-pages.txt.
#
# usage: scripts/bench-convert.sh [--build DIR] [--data DIR] [--work DIR] [--quick]
#
#   --build DIR  where the pagemill binary is (default: build, in the repo root)
#   --data DIR   the shared test data (default: ../shared/data from the repo root)
#   --work DIR   scratch/results dir (default: a new mktemp dir, kept afterwards)
#   --quick      first 4 pages of each class only (bitonal, gray, skewed); smoke test
#
# What it does, all in one run on the same input files:
#   1. copies the batch into WORK/in/{bitonal,gray}, and writes rotated copies
#      of the pages that have a skew column into WORK/in/skewed, with
#      scripts/bench-skew.c (Leptonica; compiled here into WORK/bin); this
#      part is shared with bench-service.sh in scripts/bench-lib.sh;
#   2. per class (bitonal, gray, skewed) times each tool once under
#      /usr/bin/time -v (wall time + peak RSS):
#        pagemill   build/pagemill convert --jobs 2 --out OUT FILES...
#                   (skipped, with a message, while the binary does not exist)
#        tesseract  tesseract IN OUTBASE [--dpi N] txt pdf, 2 at a time (xargs -P 2)
#        ocrmypdf   ocrmypdf --jobs 1 --deskew --output-type pdfa --sidecar OUT.txt
#                   IN OUT.pdf, 2 files at a time (xargs -P 2)
#      with OMP_THREAD_LIMIT=1 for every tool;
#   3. scores the text of the pages that have ground truth with scripts/cer.py,
#      and measures each tool's output bytes per page and class: the PDF files
#      and, within them, the page image streams as stored (qpdf --json);
#   4. prints the result tables and writes them as markdown to
#      WORK/bench-convert.md (for docs/benchmarks.md).
#
# Files without a resolution tag are copied with the dpi column of
# bench-pages.txt written into them, so all tools read the same resolution.

set -euo pipefail

usage() {
    sed -n '4,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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

bench_parse_args "--build=BUILD --data=DATA --work=WORK --quick!QUICK" "$@"

[[ -d $DATA ]] || die "data dir not found: $DATA"
DATA=$(cd "$DATA" && pwd)
bench_resolve_dirs --optional # WORK, BUILD, PAGEMILL (may be missing)

for tool in /usr/bin/time python3 cc pkg-config; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
pkg-config --exists lept || die "needs the Leptonica development files (pkg-config lept)"

# ---------------------------------------------------------------------------
# 1-2. Read the page list and build the batch in WORK/in (bench-lib.sh).
# ---------------------------------------------------------------------------
for d in out logs; do
    rm -rf "${WORK:?}/$d"
    mkdir -p "$WORK/$d"
done
bench_build_batch

CLASSES=(bitonal gray skewed)
for c in "${CLASSES[@]}"; do
    log "$c: $(wc -l <"$WORK/lists/$c.tsv") pages"
done

# ---------------------------------------------------------------------------
# 3. Timed runs.
# ---------------------------------------------------------------------------
export OMP_THREAD_LIMIT=1
RESULTS=$WORK/logs/results.tsv
printf 'tool\tclass\tpages\tok\tseconds\trss_kb\trc\n' >"$RESULTS"

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

# run_timed TOOL CLASS CMD... ; output of CMD goes to logs/TOOL-CLASS.log
run_timed() {
    local tool=$1 class=$2 rc=0
    shift 2
    local tf=$WORK/logs/$tool-$class.time
    log "$tool / $class"
    /usr/bin/time -v -o "$tf" "$@" >"$WORK/logs/$tool-$class.log" 2>&1 || rc=$?
    [[ $rc -eq 0 ]] || echo "   $tool exited with status $rc on $class (see $WORK/logs/$tool-$class.log)" >&2
    LAST_SECONDS=$(parse_elapsed "$tf")
    LAST_RSS=$(parse_rss "$tf")
    LAST_RC=$rc
}

# count_ok TOOL CLASS: pages whose expected outputs exist
count_ok() {
    local tool=$1 class=$2 n=0 in dpi gt base
    local out=$WORK/out/$tool/$class
    while IFS=$'\t' read -r in dpi gt; do
        base=$out/$(stem_of "$in")
        case $tool in
            pagemill) [[ -s $base.pdf && -f $base.txt && -s $base.pages.json ]] && n=$((n + 1)) ;;
            *) [[ -s $base.pdf && -f $base.txt ]] && n=$((n + 1)) ;;
        esac
    done <"$WORK/lists/$class.tsv"
    echo "$n"
}

record() { # TOOL CLASS
    local pages
    pages=$(wc -l <"$WORK/lists/$2.tsv")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$pages" "$(count_ok "$1" "$2")" \
        "$LAST_SECONDS" "$LAST_RSS" "$LAST_RC" >>"$RESULTS"
}

# One tesseract page; called by xargs in a child bash.
tess_one() {
    local in=$1 outdir=$2 dpi=$3 b base
    b=${in##*/}
    base=$outdir/${b%.*}
    local -a opt=()
    [[ $dpi == tag ]] || opt=(--dpi "$dpi")
    if ! tesseract "$in" "$base" "${opt[@]}" txt pdf >"$base.log" 2>&1; then
        echo "tesseract failed on $in (see $base.log)" >&2
        return 1
    fi
}
# One ocrmypdf page; called by xargs in a child bash. Every input is one
# page, so ocrmypdf's own --jobs would have nothing to spread: instead two
# ocrmypdf processes run side by side, as two tesseracts do.
ocrmypdf_one() {
    local in=$1 outdir=$2 dpi=$3 b base
    b=${in##*/}
    base=$outdir/${b%.*}
    local -a opt=()
    [[ $dpi == tag ]] || opt=(--image-dpi "$dpi")
    if ! ocrmypdf --jobs 1 --deskew --output-type pdfa --sidecar "$base.txt" \
        "${opt[@]}" "$in" "$base.pdf" >"$base.log" 2>&1; then
        echo "ocrmypdf failed on $in (see $base.log)" >&2
        return 1
    fi
}
export -f tess_one ocrmypdf_one

TOOLS_RUN=()
if [[ -x $PAGEMILL ]]; then
    TOOLS_RUN+=(pagemill)
else
    echo "bench-convert: SKIPPING pagemill: no executable $PAGEMILL (build it, or pass --build DIR)" >&2
fi
if command -v tesseract >/dev/null; then
    TOOLS_RUN+=(tesseract)
else
    echo "bench-convert: SKIPPING tesseract: not installed" >&2
fi
if command -v ocrmypdf >/dev/null; then
    TOOLS_RUN+=(ocrmypdf)
else
    echo "bench-convert: SKIPPING ocrmypdf: not installed" >&2
fi

# Host facts now: GNU nproc obeys OMP_THREAD_LIMIT, which is exported below.
BENCH_NPROC=$(env -u OMP_THREAD_LIMIT -u OMP_NUM_THREADS nproc)
BENCH_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
BENCH_TESSERACT=$(tesseract --version 2>&1 | head -n1 || true)
BENCH_OCRMYPDF=$(ocrmypdf --version 2>/dev/null || true)
BENCH_PAGEMILL="skipped (no $PAGEMILL)"
if [[ -x $PAGEMILL ]]; then
    BENCH_PAGEMILL="$("$PAGEMILL" version 2>/dev/null | head -n1 || true), $PAGEMILL (built $(date -r "$PAGEMILL" '+%Y-%m-%d %H:%M'))"
fi
export BENCH_NPROC BENCH_CPU BENCH_TESSERACT BENCH_OCRMYPDF BENCH_PAGEMILL

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for tool in "${TOOLS_RUN[@]}"; do
    for c in "${CLASSES[@]}"; do
        list=$WORK/lists/$c.tsv
        [[ -s $list ]] || continue
        out=$WORK/out/$tool/$c
        mkdir -p "$out"
        case $tool in
            pagemill)
                files=()
                while IFS=$'\t' read -r in dpi gt; do files+=("$in"); done <"$list"
                run_timed pagemill "$c" "$PAGEMILL" convert --jobs 2 --out "$out" "${files[@]}"
                ;;
            tesseract | ocrmypdf)
                nul=$WORK/lists/$c.xargs
                : >"$nul"
                while IFS=$'\t' read -r in dpi gt; do
                    printf '%s\0%s\0%s\0' "$in" "$out" "$dpi" >>"$nul"
                done <"$list"
                fn=tess_one
                [[ $tool == ocrmypdf ]] && fn=ocrmypdf_one
                run_timed "$tool" "$c" xargs -0 -a "$nul" -n 3 -P 2 bash -c "$fn"' "$@"' _
                ;;
        esac
        record "$tool" "$c"
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# 4. CER against ground truth.
# ---------------------------------------------------------------------------
CER=$WORK/logs/cer.tsv
printf 'file\tclass\tground_truth\ttool\tcer\n' >"$CER"
for c in "${CLASSES[@]}"; do
    while IFS=$'\t' read -r in dpi gt; do
        [[ $gt == - ]] && continue
        for tool in "${TOOLS_RUN[@]}"; do
            hyp=$WORK/out/$tool/$c/$(stem_of "$in").txt
            if [[ -f $hyp ]]; then
                v=$(python3 "$SCRIPT_DIR/cer.py" "$gt" "$hyp") || v=error
            else
                v=missing
            fi
            printf '%s\t%s\t%s\t%s\t%s\n' "${in##*/}" "$c" "${gt#"$DATA"/}" "$tool" "$v" >>"$CER"
        done
    done <"$WORK/lists/$c.tsv"
done

# Output bytes per tool and class: whole PDFs, and the image streams in them
# as stored (their /Length), which is what the encoder decides.
BYTES=$WORK/logs/bytes.tsv
printf 'tool\tclass\tpages\tpdf_bytes\timage_bytes\n' >"$BYTES"
image_bytes() { # PDF -> sum of the stored lengths of its image XObjects
    qpdf --json=2 --json-key=qpdf --json-stream-data=none "$1" | python3 -c '
import json, sys
objs = json.load(sys.stdin)["qpdf"][1]
def val(v):
    if isinstance(v, str) and v.endswith(" R"):
        return val(objs.get("obj:" + v, {}).get("value", 0))
    return v if isinstance(v, int) else 0
print(sum(val(o["stream"]["dict"].get("/Length"))
          for o in objs.values()
          if isinstance(o, dict) and "stream" in o
          and o["stream"]["dict"].get("/Subtype") == "/Image"))'
}
if command -v qpdf >/dev/null; then
    for tool in "${TOOLS_RUN[@]}"; do
        for c in "${CLASSES[@]}"; do
            [[ -s $WORK/lists/$c.tsv ]] || continue
            n=0 pdfb=0 imgb=0
            while IFS=$'\t' read -r in dpi gt; do
                pdf=$WORK/out/$tool/$c/$(stem_of "$in").pdf
                [[ -s $pdf ]] || continue
                n=$((n + 1))
                pdfb=$((pdfb + $(stat -c %s "$pdf")))
                imgb=$((imgb + $(image_bytes "$pdf" || echo 0)))
            done <"$WORK/lists/$c.tsv"
            printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$c" "$n" "$pdfb" "$imgb" >>"$BYTES"
        done
    done
else
    echo "bench-convert: no qpdf: bytes per page not measured" >&2
fi

# ---------------------------------------------------------------------------
# 5. Report.
# ---------------------------------------------------------------------------
export BENCH_WORK=$WORK BENCH_QUICK=$QUICK BENCH_LOAD_BEFORE=$LOAD_BEFORE BENCH_LOAD_AFTER=$LOAD_AFTER

python3 - <<'PY'
import csv, os, time

W = os.environ["BENCH_WORK"]
classes = ["bitonal", "gray", "skewed"]
tools = ["pagemill", "tesseract", "ocrmypdf"]

def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))

res = {(r["tool"], r["class"]): r for r in rows(os.path.join(W, "logs/results.tsv"))}
cer = rows(os.path.join(W, "logs/cer.tsv"))

def table(head, body):
    cols = list(zip(*([head] + body))) if body else [[h] for h in head]
    width = [max(len(str(x)) for x in col) for col in cols]
    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, width)) + " |"
    out = [line(head), "|" + "|".join("-" * (w + 2) for w in width) + "|"]
    out += [line(r) for r in body]
    return "\n".join(out)

def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None

out = []
out.append("# pagemill convert benchmark%s" % (" (--quick smoke run)" if os.environ["BENCH_QUICK"] == "1" else ""))
out.append("")
out.append("- date: %s" % time.strftime("%Y-%m-%d %H:%M %Z"))
out.append("- host: %s CPUs, %s; load average %s before, %s after"
           % (os.environ["BENCH_NPROC"], os.environ["BENCH_CPU"],
              os.environ["BENCH_LOAD_BEFORE"], os.environ["BENCH_LOAD_AFTER"]))
out.append("- pagemill: %s" % os.environ["BENCH_PAGEMILL"])
out.append("- tesseract: %s; ocrmypdf: %s" % (os.environ["BENCH_TESSERACT"], os.environ["BENCH_OCRMYPDF"]))
out.append("- batch: scripts/bench-pages.txt; work dir %s" % W)
out.append("")
out.append("## Throughput and peak memory")
out.append("")
body = []
for t in tools:
    tot_p = tot_s = 0.0
    tot_rss = 0
    seen = False
    for c in classes:
        r = res.get((t, c))
        if not r:
            continue
        seen = True
        p, s, rss = int(r["pages"]), num(r["seconds"]), int(r["rss_kb"] or 0)
        tot_p += p
        tot_s += s or 0
        tot_rss = max(tot_rss, rss)
        body.append([t, c, p, r["ok"], "%.1f" % s, "%.3f" % (p / s) if s else "n/a",
                     "%.0f" % (rss / 1024.0), r["rc"]])
    if seen:
        body.append([t, "**all**", int(tot_p), "", "%.1f" % tot_s,
                     "%.3f" % (tot_p / tot_s) if tot_s else "n/a", "%.0f" % (tot_rss / 1024.0), ""])
    else:
        body.append([t, "-", "-", "-", "-", "-", "-", "skipped"])
out.append(table(["tool", "class", "pages", "ok", "seconds", "pages/s", "peak RSS MiB", "exit"], body))
out.append("")
out.append("`ok` = pages whose outputs exist (pagemill: .pdf, .txt, .pages.json; others: .pdf, .txt).")
out.append("")

out.append("## Bytes per page")
out.append("")
out.append("Mean over the pages each tool converted: the whole PDF, and its page image streams "
           "as stored (qpdf `/Length`: what the encoder decided); the last column is the image "
           "bytes relative to ocrmypdf's on the same class (below 1: smaller).")
out.append("")
size = {}
bpath = os.path.join(W, "logs/bytes.tsv")
if os.path.exists(bpath):
    for r in rows(bpath):
        n = int(r["pages"])
        if n:
            size[(r["tool"], r["class"])] = (n, int(r["pdf_bytes"]) / n, int(r["image_bytes"]) / n)
body = []
for t in tools:
    for c in classes:
        if (t, c) not in size:
            continue
        n, pdfb, imgb = size[(t, c)]
        o = size.get(("ocrmypdf", c))
        body.append([t, c, n, "%.0f" % pdfb, "%.0f" % imgb,
                     "%.2f" % (imgb / o[2]) if o and o[2] else "n/a"])
out.append(table(["tool", "class", "pages", "PDF bytes/page", "image bytes/page", "image vs ocrmypdf"], body))
out.append("")

out.append("## pagemill relative to the others")
out.append("")
out.append("Speed = pagemill pages/s divided by the other tool's (above 1: pagemill faster); "
           "RSS = pagemill peak RSS divided by the other's (below 1: pagemill smaller).")
out.append("")
body = []
def ratio(c, other):
    a, b = res.get(("pagemill", c)), res.get((other, c))
    if not a or not b:
        return "n/a", "n/a"
    sa, sb = num(a["seconds"]), num(b["seconds"])
    ra, rb = num(a["rss_kb"]), num(b["rss_kb"])
    sp = "%.2f" % ((int(a["pages"]) / sa) / (int(b["pages"]) / sb)) if sa and sb else "n/a"
    rr = "%.2f" % (ra / rb) if ra and rb else "n/a"
    return sp, rr
for c in classes:
    o = ratio(c, "ocrmypdf")
    t = ratio(c, "tesseract")
    body.append([c, o[0], o[1], t[0], t[1]])
out.append(table(["class", "speed vs ocrmypdf", "RSS vs ocrmypdf", "speed vs tesseract", "RSS vs tesseract"], body))
out.append("")

out.append("## Character error rate")
out.append("")
out.append("CER = Levenshtein distance / ground-truth length after collapsing whitespace "
           "(scripts/cer.py); a skewed copy is scored against its page's ground truth.")
out.append("")
by_file = {}
order = []
for r in cer:
    k = (r["file"], r["class"], r["ground_truth"])
    if k not in by_file:
        by_file[k] = {}
        order.append(k)
    by_file[k][r["tool"]] = r["cer"]
body = [[f, c, g] + [by_file[(f, c, g)].get(t, "-") for t in tools] for (f, c, g) in order]
out.append(table(["page", "class", "ground truth", "pagemill", "tesseract", "ocrmypdf"], body))
out.append("")

out.append("## How each tool was run")
out.append("")
out.append("All with `OMP_THREAD_LIMIT=1`, each class timed as one `/usr/bin/time -v` run.")
out.append("")
out.append("- pagemill: `pagemill convert --jobs 2 --out OUT FILES...` (all pages of the class in one call)")
out.append("- tesseract: `tesseract IN OUTBASE [--dpi N] txt pdf`, 2 pages at a time (`xargs -P 2`)")
out.append("- ocrmypdf: `ocrmypdf --jobs 1 --deskew --output-type pdfa --sidecar OUT.txt IN OUT.pdf`, "
           "2 files at a time (`xargs -P 2`; each input is one page, so this is how ocrmypdf uses both cores)")
out.append("")
out.append("Notes:")
out.append("")
out.append("- Peak RSS is time -v's \"Maximum resident set size\": the largest single process in the tree "
           "(pagemill's parent or one of its workers; one tesseract of the two running; ocrmypdf's Python, "
           "its tesseract or Ghostscript), not the sum of processes alive at the same time.")
out.append("- ocrmypdf also deskews and writes PDF/A (through Ghostscript), which the plain tesseract loop does not.")
out.append("- Inputs without a resolution tag (dpi column of bench-pages.txt) are first copied with that dpi written "
           "into the file (scripts/bench-skew.c, angle 0), so every tool reads the same resolution from the same file.")
out.append("- The machine is shared; check the load averages above before trusting small differences.")

text = "\n".join(out) + "\n"
with open(os.path.join(W, "bench-convert.md"), "w") as f:
    f.write(text)
print(text)
PY
log "markdown written to $WORK/bench-convert.md (logs and outputs under $WORK)"
