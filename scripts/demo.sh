#!/usr/bin/env bash
# make demo: converts the demo batch (examples/WO-2026-0001, real scans) and,
# when ../shared/data is beside the clone, an 8-page fax TIFF from it, then
# says where the outputs are and how many pages and billable pages came out.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-build/pagemill}
OUT=${DEMO_OUT:-demo-out}
inputs=(examples/WO-2026-0001)
fax=../shared/data/derived/ccitt-fax-8pages-g4-204x196dpi.tif
if [ -f "$fax" ]; then
    inputs+=("$fax")
fi

rm -rf "$OUT"
mkdir -p "$OUT"
echo "== pagemill convert --jobs $(nproc) --out $OUT ${inputs[*]}"
status=0
"$BIN" convert --jobs "$(nproc)" --out "$OUT" "${inputs[@]}" || status=$?

pages=0
billable=0
for report in "$OUT"/*.pages.json; do
    p=$(grep -m1 '"pages":' "$report" | tr -dc '0-9')
    b=$(grep -m1 '"billable_pages":' "$report" | tr -dc '0-9')
    pages=$((pages + p))
    billable=$((billable + b))
done
echo
echo "== outputs in $OUT/"
ls -l "$OUT"
echo
echo "pages: $pages, billable pages: $billable (exit status $status)"
exit "$status"
