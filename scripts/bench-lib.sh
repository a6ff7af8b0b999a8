# shellcheck shell=bash
# bench-lib.sh: what the benchmark scripts share. Sourced, not run:
#
#   BENCH_NAME=bench-xxx          # prefix of error messages
#   source "$SCRIPT_DIR/bench-lib.sh"
#
# Gives die, log, stem_of, bench_parse_args (the command line, from a list
# of options), bench_resolve_dirs (WORK, BUILD and PAGEMILL from the
# options), bench_compile, image_bytes, bench_archival (the archival outputs'
# cost per page, from reports and a log) and bench_build_batch, which builds
# the fixed page batch of scripts/bench-pages.txt into WORK/in/{bitonal,gray,
# skewed} with one list per class in WORK/lists/CLASS.tsv (file, "tag",
# ground truth or "-"). The caller sets, before calling bench_build_batch:
#
#   SCRIPT_DIR  the scripts folder (bench-pages.txt, bench-skew.c)
#   DATA        the shared test data, absolute
#   WORK        the work folder, absolute
#   QUICK       1: first 4 pages of each class and the first 4 skew copies

die() {
    echo "${BENCH_NAME:-bench}: $*" >&2
    exit 1
}

log() { printf '== %s\n' "$*" >&2; }

stem_of() {
    local b=${1##*/}
    printf '%s' "${b%.*}"
}

# bench_parse_args "SPEC" "$@": parses the command line. SPEC lists the
# options, space-separated: "--name=VAR" takes a value (--name V or
# --name=V) into VAR, "--name!VAR" is a flag that sets VAR=1. -h/--help
# runs the caller's usage and exits 0; anything else prints the usage on
# stderr and dies.
bench_parse_args() {
    local word opt var val inline
    local -a spec
    read -r -d '' -a spec <<<"$1" || : # the words of all its lines
    shift
    while [[ $# -gt 0 ]]; do
        [[ $1 == -h || $1 == --help ]] && { usage; exit 0; }
        opt=${1%%=*} var='' val='' inline=0
        [[ $1 == *=* ]] && val=${1#*=} inline=1
        for word in "${spec[@]}"; do
            if [[ $word == "$opt="* ]]; then
                var=${word#*=}
                if [[ $inline -eq 0 ]]; then
                    [[ $# -ge 2 ]] || die "$opt needs a value"
                    val=$2
                    shift
                fi
                break
            elif [[ $word == "$opt!"* && $inline -eq 0 ]]; then
                var=${word#*!} val=1
                break
            fi
        done
        [[ -n $var ]] || { usage >&2; die "unknown argument: $1"; }
        printf -v "$var" '%s' "$val"
        shift
    done
}

# bench_resolve_dirs [--optional]: creates WORK (a new mktemp dir when it
# is empty) and makes it absolute, makes BUILD absolute when it exists, and
# sets PAGEMILL=BUILD/pagemill, which must be executable unless --optional
# (the caller then skips pagemill when it is missing).
bench_resolve_dirs() {
    if [[ -z $WORK ]]; then
        WORK=$(mktemp -d "${TMPDIR:-/tmp}/pagemill-${BENCH_NAME:-bench}.XXXXXX")
    else
        mkdir -p "$WORK"
    fi
    WORK=$(cd "$WORK" && pwd)
    if [[ -d $BUILD ]]; then
        BUILD=$(cd "$BUILD" && pwd)
    fi
    PAGEMILL=$BUILD/pagemill
    [[ ${1:-} == --optional || -x $PAGEMILL ]] ||
        die "no executable $PAGEMILL (build it, or pass --build DIR)"
}

# bench_compile NAME: scripts/NAME.c (Leptonica) -> WORK/bin/NAME
bench_compile() {
    log "compiling scripts/$1.c"
    mkdir -p "$WORK/bin"
    # shellcheck disable=SC2046
    cc -O2 -o "$WORK/bin/$1" "$SCRIPT_DIR/$1.c" $(pkg-config --cflags --libs lept) ||
        die "cannot compile scripts/$1.c"
}

# ---------------------------------------------------------------------------
# The fixed batch.
# ---------------------------------------------------------------------------

# Reads bench-pages.txt into ROW_PATH, ROW_CLASS, ROW_GT, ROW_DPI, ROW_SKEW.
bench_read_pages() {
    local pages_file=$SCRIPT_DIR/bench-pages.txt line lineno=0
    local -a f
    ROW_PATH=() ROW_CLASS=() ROW_GT=() ROW_DPI=() ROW_SKEW=()
    while IFS= read -r line || [[ -n $line ]]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        read -r -a f <<<"$line" || true
        [[ ${#f[@]} -eq 0 ]] && continue
        [[ ${#f[@]} -eq 5 ]] || die "$pages_file:$lineno: expected 5 columns, got ${#f[@]}"
        [[ ${f[1]} == bitonal || ${f[1]} == gray ]] ||
            die "$pages_file:$lineno: class must be bitonal or gray, not '${f[1]}'"
        [[ ${f[3]} == tag || ${f[3]} =~ ^[0-9]+$ ]] ||
            die "$pages_file:$lineno: dpi must be 'tag' or a number, not '${f[3]}'"
        [[ -f $DATA/${f[0]} ]] || die "$pages_file:$lineno: missing $DATA/${f[0]}"
        [[ ${f[2]} == - || -f $DATA/${f[2]} ]] || die "$pages_file:$lineno: missing $DATA/${f[2]}"
        ROW_PATH+=("${f[0]}") ROW_CLASS+=("${f[1]}") ROW_GT+=("${f[2]}")
        ROW_DPI+=("${f[3]}") ROW_SKEW+=("${f[4]}")
    done <"$pages_file"
    [[ ${#ROW_PATH[@]} -gt 0 ]] || die "no pages in $pages_file"
}

declare -A STEM_SEEN=()
claim_stem() {
    local s
    s=$(stem_of "$1")
    [[ -z ${STEM_SEEN[$s]:-} ]] || die "two batch files share the stem '$s' (pagemill writes OUT/<stem>.*)"
    STEM_SEEN[$s]=1
}

# source_of ROW: a readable image file for the row (a .pdf row is a one-image
# PDF whose image is extracted unchanged with pdfimages -j).
declare -A SOURCE=()
source_of() {
    local i=$1 src=$DATA/${ROW_PATH[$1]}
    if [[ -n ${SOURCE[$i]:-} ]]; then
        printf '%s' "${SOURCE[$i]}"
        return
    fi
    if [[ $src == *.pdf ]]; then
        command -v pdfimages >/dev/null || die "needs pdfimages (poppler-utils) for ${ROW_PATH[$i]}"
        local prefix got
        prefix=$WORK/in/extracted/$(stem_of "$src")
        pdfimages -j -f 1 -l 1 "$src" "$prefix" || die "pdfimages failed on $src"
        got=("$prefix"-*)
        [[ ${#got[@]} -eq 1 && -f ${got[0]} ]] ||
            die "${ROW_PATH[$i]}: expected exactly one image on page 1, got ${#got[@]}"
        local out=$prefix.${got[0]##*.}
        mv "${got[0]}" "$out"
        src=$out
    fi
    SOURCE[$i]=$src
    printf '%s' "$src"
}

gt_abs() { [[ $1 == - ]] && printf -- '-' || printf '%s' "$DATA/$1"; }

# Builds the batch: WORK/in/{bitonal,gray,skewed}, WORK/lists/CLASS.tsv,
# WORK/bin/bench-skew. Replaces WORK/in, WORK/lists and WORK/bin.
bench_build_batch() {
    local d c i a src dst job base dpi out
    local -a angles skew_jobs=()
    local -A taken=([bitonal]=0 [gray]=0)

    bench_read_pages
    for d in in lists bin; do
        rm -rf "${WORK:?}/$d"
        mkdir -p "$WORK/$d"
    done
    mkdir -p "$WORK/in/bitonal" "$WORK/in/gray" "$WORK/in/skewed" "$WORK/in/extracted"
    : >"$WORK/lists/bitonal.tsv"
    : >"$WORK/lists/gray.tsv"
    : >"$WORK/lists/skewed.tsv"
    STEM_SEEN=()
    SOURCE=()

    bench_compile bench-skew

    for i in "${!ROW_PATH[@]}"; do
        c=${ROW_CLASS[$i]}
        if [[ $QUICK -eq 1 && ${taken[$c]} -ge 4 ]]; then
            continue
        fi
        taken[$c]=$((taken[$c] + 1))
        src=$(source_of "$i")
        SOURCE[$i]=$src   # source_of ran in a subshell; remember it here
        dst=$WORK/in/$c/${src##*/}
        if [[ ${ROW_DPI[$i]} == tag ]]; then
            claim_stem "$dst"
            cp "$src" "$dst"
        else
            # Untagged file: write a copy tagged with the dpi column, so every
            # tool reads the same resolution from the same file.
            dst=$("$WORK/bin/bench-skew" "$src" "$WORK/in/$c/$(stem_of "$src")" 0 "${ROW_DPI[$i]}") ||
                die "bench-skew failed on $src"
            claim_stem "$dst"
        fi
        printf '%s\t%s\t%s\n' "$dst" tag "$(gt_abs "${ROW_GT[$i]}")" >>"$WORK/lists/$c.tsv"
    done

    for i in "${!ROW_PATH[@]}"; do
        [[ ${ROW_SKEW[$i]} == - ]] && continue
        IFS=, read -r -a angles <<<"${ROW_SKEW[$i]}"
        for a in "${angles[@]}"; do
            [[ $a =~ ^[+-]?[0-9]+(\.[0-9]+)?$ ]] || die "bad skew angle '$a' for ${ROW_PATH[$i]}"
            [[ $a == [+-]* ]] || a=+$a
            skew_jobs+=("$i $a")
        done
    done
    if [[ $QUICK -eq 1 && ${#skew_jobs[@]} -gt 4 ]]; then
        skew_jobs=("${skew_jobs[@]:0:4}")
    fi

    if [[ ${#skew_jobs[@]} -gt 0 ]]; then
        for job in "${skew_jobs[@]}"; do
            read -r i a <<<"$job"
            src=$(source_of "$i")
            SOURCE[$i]=$src
            base=$WORK/in/skewed/$(stem_of "$src").skew$a
            dpi=${ROW_DPI[$i]}
            [[ $dpi == tag ]] && dpi=0
            out=$("$WORK/bin/bench-skew" "$src" "$base" "$a" "$dpi") || die "bench-skew failed on $src"
            claim_stem "$out"
            printf '%s\t%s\t%s\n' "$out" tag "$(gt_abs "${ROW_GT[$i]}")" >>"$WORK/lists/skewed.tsv"
        done
    fi
}

# image_bytes PDF...: the sum of the stored lengths of their image XObjects
# (0 for a file qpdf cannot read).
image_bytes() {
    local f t=0 n
    for f in "$@"; do
        n=$(qpdf --json=2 --json-key=qpdf --json-stream-data=none "$f" | python3 -c '
import json, sys
objs = json.load(sys.stdin)["qpdf"][1]
def val(v):
    if isinstance(v, str) and v.endswith(" R"):
        return val(objs.get("obj:" + v, {}).get("value", 0))
    return v if isinstance(v, int) else 0
print(sum(val(o["stream"]["dict"].get("/Length"))
          for o in objs.values()
          if isinstance(o, dict) and "stream" in o
          and o["stream"]["dict"].get("/Subtype") == "/Image"))') || n=0
        t=$((t + n))
    done
    echo "$t"
}

# bench_profile_ini: the benchmarks' service profile, `[profile default]`
# as in config/pagemill.ini.sample (OCR, orientation, deskew, colour auto).
bench_profile_ini() {
    cat <<'INI'
[profile default]
languages = eng
ocr = yes
ocr_psm = 3
orient = yes
orient_min_confidence = 2.0
deskew = yes
deskew_max_angle = 16
deskew_min_confidence = 3.0
blank_ink_ratio = 0.0005
color_mode = auto
gray_codec = jpeg
jpeg_quality = 85
jp2_quality = 45
fallback_dpi = 300
max_pixels = 400000000
INI
}

# bench_archival WALL_S LOG REPORT...: the archival outputs' cost per page
# (docs/benchmarks.md "Archival outputs per page") as a markdown table and
# lines, for the documents whose reports (.pages.json) are given, made in
# WALL_S seconds: the TIFF master (archival_ms.tiff_master, written by the
# assembly), the ALTO (each page's, ms.alto in the report or the page's
# "(ALTO N ms)" in LOG, plus archival_ms.alto: merging it in publishing)
# and the bag with its checksums (archival_ms.bag, plus the "+ N ms after
# the report" of the job's line in LOG); each in ms per page of one thread,
# and their sum against the conversion's: its page work per page (the
# pages' ms.total, the same thread time; the verdict) and its wall time per
# page (WALL_S / pages, shorter by the workers running at once). LOG may be
# "-" (none).
bench_archival() {
    python3 - "$@" <<'PYEOF'
import json, re, sys

wall, log, reports = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
page_alto, tail = {}, {}
if log != "-":
    for line in open(log, errors="replace"):
        m = re.search(r"job=(\d+) page=(\d+) done \(attempt \d+\).*\(ALTO ([0-9.]+) ms\)", line)
        if m:
            page_alto[(int(m[1]), int(m[2]))] = float(m[3])
        m = re.search(r"job=(\d+) done: .*bag [0-9.]+ ms \+ ([0-9.]+) ms after the report", line)
        if m:
            tail[int(m[1])] = float(m[2])
pages = work = tiff = alto_pages = alto_merge = bag = 0.0
for path in reports:
    rep = json.load(open(path))
    t = rep.get("archival_ms") or {}
    job = rep.get("job")
    pages += rep.get("pages", 0)
    tiff += t.get("tiff_master", 0)
    alto_merge += t.get("alto", 0)
    bag += t.get("bag", 0) + tail.get(job, 0)
    for p in rep.get("page_results", []):
        ms = p.get("ms") or {}
        work += ms.get("total", 0)
        alto_pages += ms.get("alto", 0) or page_alto.get((job, p.get("page")), 0)
if not pages or not work:
    sys.exit("bench_archival: no pages in the reports")
conv, per = wall * 1000 / pages, work / pages
cells = [tiff / pages, (alto_pages + alto_merge) / pages, bag / pages]
total = sum(cells)
print("| pages | wall ms/page | page work ms/page | TIFF master | ALTO | bag + checksums "
      "| archival sum | % of page work | % of wall |")
print("|---|---|---|---|---|---|---|---|---|")
print("| %d | %.1f | %.1f | %s | %.2f%% | %.2f%% |" % (
    pages, conv, per, " | ".join("%.2f" % c for c in cells + [total]), 100 * total / per,
    100 * total / conv))
print()
print("- ALTO: %.2f ms/page made and written by the workers (in their OCR time), %.2f ms/page "
      "merged and written by publishing" % (alto_pages / pages, alto_merge / pages))
print("- archival outputs: **%.2f%%** of the conversion's page work, thread time against thread "
      "time (target < 5%%: %s); %.2f%% of its wall time per page, which the workers shorten by "
      "running at once" % (100 * total / per, "met" if 100 * total / per < 5 else "NOT met",
                           100 * total / conv))
PYEOF
}
