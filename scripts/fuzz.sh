#!/usr/bin/env bash
# fuzz.sh: builds pagemill's libFuzzer drivers (clang, ASan+UBSan,
# -DPM_FUZZ=ON, in build-fuzz/) and runs one of them.
#
#   scripts/fuzz.sh TARGET SECONDS     fuzz TARGET for SECONDS
#   scripts/fuzz.sh --regress [TARGET] replay the seeds and every input in
#                                      tests/fuzz/regress/TARGET (no fuzzing)
#
# TARGET is one of: proto config image pdf batch. Seeds come from
# ../shared/data (images; PDFs, the qpdf fuzz reproducers included),
# config/pagemill.ini.sample and tests/fuzz/seeds/TARGET; new corpus
# entries go to build-fuzz/corpus/TARGET (kept between runs). A crash
# leaves its input in build-fuzz/crashes/TARGET/: copy it into
# tests/fuzz/regress/TARGET/ with the fix, so --regress replays it forever.
# Exit status: 0 when no crash, leak or timeout was found.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${PM_FUZZ_BUILD:-$ROOT/build-fuzz}
DATA=${PM_SHARED_DATA:-$ROOT/../shared/data}
# third-party leaks that are not ours (tests/fuzz/lsan.supp says which)
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/fuzz/lsan.supp}
TARGETS=(proto config image pdf batch)

die() {
    echo "fuzz.sh: $*" >&2
    exit 2
}

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

build() {
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_COMPILER=clang -DPM_SANITIZE=address,undefined \
        -DPM_FUZZ=ON -DPM_WERROR=ON >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" \
        --target "${TARGETS[@]/#/fuzz_}" >/dev/null
}

# seeds TARGET DIR: fills DIR with links to the seed inputs of TARGET.
seeds() {
    local t=$1 dir=$2 f
    mkdir -p "$dir"
    if [[ -d tests/fuzz/seeds/$t ]]; then cp -f tests/fuzz/seeds/"$t"/* "$dir"/; fi
    case $t in
    image)
        [[ -d $DATA ]] || die "no test data at $DATA (../shared/data)"
        # every image under 300 kB: fax, TIFF edge cases, PNG suite, fuzz
        # corpora of libtiff and libpng
        while IFS= read -r -d '' f; do
            ln -sf "$f" "$dir/$(sha256sum <"$f" | cut -c1-16)"
        done < <(find "$DATA" -type f -size -300k \( -iname '*.tif' \
            -o -iname '*.tiff' -o -iname '*.png' -o -iname '*.jpg' \
            -o -iname '*.jpeg' -o -iname '*.bmp' -o -iname '*.ppm' \
            -o -iname '*.jp2' -o -iname '*.pnm' \) -print0)
        ;;
    pdf)
        [[ -d $DATA ]] || die "no test data at $DATA (../shared/data)"
        # every PDF under 300 kB: scanner PDFs, OCRmyPDF's odd files, the
        # qpdf fuzz reproducers (listed as pdf in the manifest)
        while IFS= read -r f; do
            [[ $(stat -c %s "$DATA/$f") -lt 300000 ]] || continue
            ln -sf "$DATA/$f" "$dir/$(sha256sum <"$DATA/$f" | cut -c1-16)"
        done < <(awk -F'\t' 'NR > 1 && $9 == "pdf" { print $6 }' \
            "$DATA/MANIFEST.tsv")
        ;;
    config) cp -f config/pagemill.ini.sample "$dir/sample.ini" ;;
    esac
}

# opts TARGET: libFuzzer options per target (dictionary, sizes).
opts() {
    local -a o=(-rss_limit_mb=2560 -timeout=30 -detect_leaks=1)
    case $1 in
    image | pdf) o+=(-max_len=400000) ;;
    *) o+=(-max_len=8192) ;;
    esac
    [[ -f tests/fuzz/$1.dict ]] && o+=(-dict="tests/fuzz/$1.dict")
    printf '%s\n' "${o[@]}"
}

regress() {
    local t=$1 dir
    dir=$(mktemp -d)
    seeds "$t" "$dir"
    if [[ -d tests/fuzz/regress/$t ]]; then cp -f tests/fuzz/regress/"$t"/* "$dir"/; fi
    echo "== fuzz_$t: replaying $(find "$dir" -maxdepth 1 ! -type d | wc -l) inputs"
    # shellcheck disable=SC2046
    ASAN_OPTIONS=${ASAN_OPTIONS:-fast_unwind_on_malloc=0} \
        "$BUILD/tests/fuzz/fuzz_$t" $(opts "$t") -runs=0 "$dir" >"$dir.log" 2>&1 ||
        { tail -40 "$dir.log"; rm -rf "$dir" "$dir.log"; return 1; }
    rm -rf "$dir" "$dir.log"
}

run() {
    local t=$1 secs=$2 corpus seeddir crashes
    corpus=$BUILD/corpus/$t
    seeddir=$BUILD/seeds/$t
    crashes=$BUILD/crashes/$t
    rm -rf "$seeddir"
    seeds "$t" "$seeddir"
    if [[ -d tests/fuzz/regress/$t ]]; then cp -f tests/fuzz/regress/"$t"/* "$seeddir"/; fi
    mkdir -p "$corpus" "$crashes"
    echo "== fuzz_$t for ${secs}s"
    # shellcheck disable=SC2046
    # slow unwinding on malloc: the suppressions name frames inside C++
    # libraries built without frame pointers
    ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:fast_unwind_on_malloc=0} \
        "$BUILD/tests/fuzz/fuzz_$t" $(opts "$t") \
        -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$corpus" "$seeddir"
}

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case $1 in
-h | --help) usage; exit 0 ;;
--regress)
    build
    list=("${@:2}")
    [[ ${#list[@]} -gt 0 ]] || list=("${TARGETS[@]}")
    for t in "${list[@]}"; do regress "$t"; done
    ;;
*)
    [[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || { usage >&2; exit 2; }
    [[ " ${TARGETS[*]} " == *" $1 "* ]] || die "unknown target: $1"
    build
    run "$1" "$2"
    ;;
esac
