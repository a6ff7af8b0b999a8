#!/usr/bin/env bash
# make demo: the real service on the embedded catalog. Builds a temporary
# root (config, hot folder, spool, output, SQLite catalog), creates an
# account, a fee code and two work orders, starts `pagemill serve`, drops the demo batch
# (examples/WO-2026-0001, real scans) into the hot folder the way a scan
# station does (folder first, batch.ini last) and, when ../shared/data is
# beside the clone, an 8-page fax TIFF as a single-file batch of a second
# work order. Waits for the jobs, prints `pagemill status`, stops the
# service with SIGTERM, then prints the outputs, this month's billing
# report, writes its (draft) invoices and prints the billable page count.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=$(realpath "${1:-build/pagemill}")
ROOT=$(realpath -m "${DEMO_ROOT:-demo-out}")
DEADLINE=${DEMO_TIMEOUT:-600}
CONF=$ROOT/pagemill.ini
fax=../shared/data/derived/ccitt-fax-8pages-g4-204x196dpi.tif

rm -rf "$ROOT"
mkdir -p "$ROOT/hot" "$ROOT/spool" "$ROOT/out"
cat >"$CONF" <<EOF
[pagemill]
catalog = $ROOT/catalog.db
spool = $ROOT/spool
output = $ROOT/out

[hotfolder scans]
path = $ROOT/hot
profile = default
settle_seconds = 2
EOF
"$BIN" config check "$CONF"

pm() { "$BIN" "$@" --config "$CONF" --actor demo; }
month=$(date -u +%Y-%m)
pm account add DEMO-ARCHIVE --name "Demo City Archive" \
    --contact "Records Office" --number 4100-17 >/dev/null
pm fee add STD --price 0.08125 --min-charge 1.00 --effective "$month-01" \
    --description "standard scanning, per page" >/dev/null
pm workorder add WO-2026-0001 --account DEMO-ARCHIVE --fee-code STD \
    --notes "demo batch" >/dev/null
pm workorder add WO-2026-0002 --account DEMO-ARCHIVE --fee-code STD \
    --notes "fax" >/dev/null

echo "== pagemill serve (log: $ROOT/serve.log)"
"$BIN" serve --config "$CONF" 2>"$ROOT/serve.log" &
SERVE=$!
trap 'kill -TERM $SERVE 2>/dev/null || true' EXIT

# A scan station copies the pages first and writes the marker last.
jobs_expected=1
cp -r examples/WO-2026-0001 "$ROOT/hot/.WO-2026-0001.part"
mv "$ROOT/hot/.WO-2026-0001.part" "$ROOT/hot/WO-2026-0001"
printf 'operator = demo\nexpected_pages = 5\nnotes = make demo\n' \
    >"$ROOT/hot/WO-2026-0001/batch.ini"
if [ -f "$fax" ]; then
    cp "$fax" "$ROOT/hot/.WO-2026-0002.tif.part"
    mv "$ROOT/hot/.WO-2026-0002.tif.part" "$ROOT/hot/WO-2026-0002.tif"
    jobs_expected=2
fi
echo "== dropped $jobs_expected batch(es); waiting for the service"

finished() {
    pm job list --json | grep -o '"state": *"[a-z]*"' |
        grep -c -E '"(done|failed|held|cancelled)"' || true
}
start=$SECONDS
while [ "$(finished)" -lt "$jobs_expected" ]; do
    if ! kill -0 "$SERVE" 2>/dev/null; then
        echo "pagemill serve stopped unexpectedly; see $ROOT/serve.log" >&2
        exit 1
    fi
    if [ $((SECONDS - start)) -gt "$DEADLINE" ]; then
        echo "jobs not finished after ${DEADLINE}s; see $ROOT/serve.log" >&2
        exit 1
    fi
    sleep 1
done
echo "== finished in $((SECONDS - start)) s"
echo
pm status || echo "(status exit $?: 3 a job failed, 4 the service is not running)"
echo
pm job list

kill -TERM "$SERVE"
status=0
wait "$SERVE" || status=$?
trap - EXIT
echo
echo "== pagemill serve stopped (exit status $status)"

pages=0
billable=0
for report in "$ROOT"/out/*/*/job-*/data/job-*.pages.json; do
    [ -f "$report" ] || continue
    p=$(grep -m1 '"pages":' "$report" | tr -dc '0-9')
    b=$(grep -m1 '"billable_pages":' "$report" | tr -dc '0-9')
    pages=$((pages + p))
    billable=$((billable + b))
done
echo
echo "== outputs in $ROOT/out/"
find "$ROOT/out" -type f -printf '%10s  %p\n' | sort -k2
echo
echo "== BagIt packages (docs/archival.md)"
for bag in "$ROOT"/out/*/*/job-*/; do
    [ -f "$bag/bagit.txt" ] || continue
    echo "bag: ${bag%/}"
    "$BIN" verify "${bag%/}"
done
echo
echo "== billing report for $month (open month: figures until it is closed)"
pm billing report --month "$month"
mkdir -p "$ROOT/invoices"
pm billing invoice --month "$month" --out "$ROOT/invoices"
ls "$ROOT/invoices"
echo
echo "pages: $pages, billable pages: $billable"
[ "$status" -eq 0 ] && [ "$billable" -gt 0 ]
