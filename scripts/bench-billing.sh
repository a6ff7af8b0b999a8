#!/usr/bin/env bash
# Billing benchmark: `pagemill billing report` and `billing close` on a
# catalog holding two years of billable pages.
#
# usage: scripts/bench-billing.sh [--build DIR] [--work DIR] [--runs N]
#                                 [--pages N]
#
#   --build DIR   where the pagemill binary is (default: build, in the repo root)
#   --work DIR    scratch/results dir (default: a new mktemp dir, kept afterwards)
#   --runs N      timed runs of each report (default 7; median and max shown)
#   --pages N     billable pages in all, 21000..1100000 (default 1000000;
#                 100000 is a one-minute smoke test)
#
# What it does, all in one run:
#   1. creates WORK/catalog.db with the real binary (`pagemill account add`
#      creates and migrates it), then fills it with the sqlite3 shell in one
#      transaction, foreign keys on: 400 accounts, 5 fee codes with price
#      changes (some mid-month, one inside the open month), 350 work orders
#      a month for the 24 months 2024-12..2026-11, 1 to 4 jobs per work
#      order (1..400 pages, 70% short, 25% medium, 5% long, scaled so the
#      pages add up to exactly --pages), a done page_tasks row and a
#      billable_pages row (3% blank) per page, jobs done with finished_at
#      spread over their month and billing_month set to it (UTC), 20% of
#      them billing blank pages; then PRAGMA foreign_key_check;
#   2. closes 2024-12..2026-10 in order with `pagemill billing close`,
#      timing each, so 2026-11 stays open;
#   3. times with /usr/bin/time (output to /dev/null, --runs runs each) the
#      reports of the open month (table, csv, json), of a closed month, of
#      the year 2025, of all 24 months, and of one account's 24 months;
#   4. checks the report totals against the same sums done in SQL straight
#      from billable_pages and the fee schedule;
#   5. prints EXPLAIN QUERY PLAN of the report statements (their SQL is
#      read from catalog/sqlite_ledger.c, so the plans are those of the code);
#   6. writes it all as markdown to WORK/bench-billing.md.

set -euo pipefail

usage() {
    sed -n '4,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=bench-billing
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh" # die, log, bench_parse_args, bench_resolve_dirs

BUILD=$ROOT/build
WORK=
RUNS=7
PAGES=1000000

bench_parse_args "--build=BUILD --work=WORK --runs=RUNS --pages=PAGES" "$@"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number"
[[ $PAGES =~ ^[1-9][0-9]*$ ]] || die "--pages must be a positive number"
# At least a page per job (20,998 jobs); at most what keeps the largest
# job (raw size 390, scaled) within 400 pages.
[[ $PAGES -ge 21000 && $PAGES -le 1100000 ]] || die "--pages must be 21000..1100000"

# The catalog's shape. Months are UTC (the default billing time zone).
ACCOUNTS=400
WO_PER_MONTH=350
FIRST_MONTH=2024-12
LAST_MONTH=2026-11 # stays open
NMONTHS=24
ONE_MONTH_TARGET=0.5
ALL_MONTHS_TARGET=2

bench_resolve_dirs # WORK, BUILD, PAGEMILL
"$PAGEMILL" billing report --help >/dev/null 2>&1 ||
    die "$PAGEMILL has no 'billing report' command (rebuild it)"
[[ -x /usr/bin/time ]] || die "needs /usr/bin/time (scripts/install-deps.sh)"
command -v sqlite3 >/dev/null || die "needs the sqlite3 shell (scripts/install-deps.sh)"
sqlite3 :memory: 'SELECT value FROM generate_series(1, 1)' >/dev/null 2>&1 ||
    die "this sqlite3 shell has no generate_series (needs 3.34 or later)"

DB=$WORK/catalog.db
RESULTS=$WORK/bench-billing.md
OUT=$WORK/out
LOGS=$WORK/logs
for d in out logs; do
    rm -rf "${WORK:?}/$d"
    mkdir -p "$WORK/$d"
done
rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-journal"

calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }
now_us() { NOW_US=${EPOCHREALTIME//[!0-9]/}; }
pm() { "$PAGEMILL" "$@" --catalog "$DB"; }
sql() { sqlite3 -bail "$DB" "$@"; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
log "load average before: $LOAD_BEFORE"

# ---------------------------------------------------------------------------
# 1. The catalog: created by the binary, filled by SQL.
# ---------------------------------------------------------------------------
log "creating $DB with $PAGEMILL"
pm account add A0001 --name "Customer 0001" --contact "billing@customer0001.example" \
    --number 40000001 >"$LOGS/create.log" 2>&1 || die "account add failed (see $LOGS/create.log)"
[[ $(sql 'SELECT max(version) FROM schema_migrations') -ge 3 ]] ||
    die "the catalog was not migrated to the billing schema"

# h(x, salt): a deterministic 20-bit hash (multiplicative, high bits), so
# every run builds the same catalog. Products stay below 2^63.
h() { printf '((((%s) * 2654435761 + %s) %% 4294967296) >> 12)' "$1" "$2"; }

cat >"$WORK/fill.sql" <<EOF
-- written by scripts/bench-billing.sh
PRAGMA foreign_keys = ON;
PRAGMA temp_store = MEMORY;
PRAGMA cache_size = -262144;
BEGIN;

-- Accounts: A0001 came from the CLI.
INSERT INTO accounts (id, code, name, contact, account_number, created_at)
SELECT value, printf('A%04d', value), printf('Customer %04d', value),
       printf('billing@customer%04d.example', value), printf('4%07d', value),
       unixepoch('2024-11-01')
FROM generate_series(2, $ACCOUNTS);

-- Fee codes and their price history (millicents). Changes on the 16th,
-- 15th, 17th, 20th and 10th fall mid-month: a work order's jobs in those
-- months bill at two prices. STD changes inside the open month.
INSERT INTO fee_codes (code, description, unit_price_millicents,
                       min_charge_millicents, effective_from, created_at)
VALUES
 ('STD',  'scan, OCR, searchable PDF', 8125,  0,       unixepoch('2024-01-01'), unixepoch('2023-12-20')),
 ('STD',  'scan, OCR, searchable PDF', 8500,  0,       unixepoch('2025-07-16'), unixepoch('2025-07-01')),
 ('STD',  'scan, OCR, searchable PDF', 8900,  0,       unixepoch('2026-11-10'), unixepoch('2026-11-02')),
 ('ARCH', 'archival PDF/A and TIFF',   12000, 500000,  unixepoch('2024-01-01'), unixepoch('2023-12-20')),
 ('ARCH', 'archival PDF/A and TIFF',   12500, 500000,  unixepoch('2025-03-15'), unixepoch('2025-03-01')),
 ('ARCH', 'archival PDF/A and TIFF',   13000, 600000,  unixepoch('2026-02-17'), unixepoch('2026-02-03')),
 ('BULK', 'bulk, no OCR review',       4500,  0,       unixepoch('2024-01-01'), unixepoch('2023-12-20')),
 ('BULK', 'bulk, no OCR review',       4200,  0,       unixepoch('2025-10-01'), unixepoch('2025-09-15')),
 ('RUSH', 'same-day',                  25000, 1000000, unixepoch('2024-01-01'), unixepoch('2023-12-20')),
 ('RUSH', 'same-day',                  27500, 1000000, unixepoch('2026-05-20'), unixepoch('2026-05-04')),
 ('FAX',  'fax and forms',             3000,  150000,  unixepoch('2024-01-01'), unixepoch('2023-12-20'));

-- The months: start, end, and the end of their finishing window (now,
-- for a month not over yet).
CREATE TEMP TABLE months AS
SELECT value AS k,
       unixepoch('$FIRST_MONTH-01', '+' || value || ' months') AS start,
       unixepoch('$FIRST_MONTH-01', '+' || (value + 1) || ' months') AS stop
FROM generate_series(0, $NMONTHS - 1);
UPDATE months SET stop = min(stop, unixepoch('now') - 60);

-- Work orders: $WO_PER_MONTH a month, opened on the month's first day.
-- Fee codes: STD 50%, BULK 20%, ARCH 15%, FAX 10%, RUSH 5%.
INSERT INTO work_orders (id, number, account_id, fee_code, status, notes,
                         created_at)
SELECT m.k * $WO_PER_MONTH + s.value,
       printf('WO-%s-%03d', strftime('%Y%m', m.start, 'unixepoch'), s.value),
       1 + $(h "m.k * $WO_PER_MONTH + s.value" 11) % $ACCOUNTS,
       CASE
         WHEN $(h "m.k * $WO_PER_MONTH + s.value" 12) % 20 < 10 THEN 'STD'
         WHEN $(h "m.k * $WO_PER_MONTH + s.value" 12) % 20 < 14 THEN 'BULK'
         WHEN $(h "m.k * $WO_PER_MONTH + s.value" 12) % 20 < 17 THEN 'ARCH'
         WHEN $(h "m.k * $WO_PER_MONTH + s.value" 12) % 20 < 19 THEN 'FAX'
         ELSE 'RUSH'
       END,
       CASE WHEN m.k < $NMONTHS - 2 THEN 'closed' ELSE 'open' END, NULL,
       m.start
FROM months m, generate_series(1, $WO_PER_MONTH) s
ORDER BY 1;
UPDATE work_orders SET closed_at = created_at + 40 * 86400
WHERE status = 'closed';

-- Jobs: 1 to 4 per work order. raw is a size drawn from 1..390: 70% 1-40,
-- 25% 41-150, 5% 151-390 pages.
CREATE TEMP TABLE tjobs AS
SELECT row_number() OVER (ORDER BY w.id, n.value) AS id, w.id AS wo,
       CASE
         WHEN $(h "w.id * 8 + n.value" 21) % 1000 < 700
           THEN 1 + $(h "w.id * 8 + n.value" 22) % 40
         WHEN $(h "w.id * 8 + n.value" 21) % 1000 < 950
           THEN 41 + $(h "w.id * 8 + n.value" 22) % 110
         ELSE 151 + $(h "w.id * 8 + n.value" 22) % 240
       END AS raw
FROM work_orders w, generate_series(1, 4) n
WHERE n.value <= 1 + $(h "w.id" 13) % 4;

-- Pages: 1 + (raw - 1) scaled so the total is exactly $PAGES. Cumulative
-- sums are rounded, not each job, so nothing is lost to rounding.
CREATE TEMP TABLE tpages AS
WITH c AS (
  SELECT id, wo, sum(raw - 1) OVER (ORDER BY id) AS cum,
         (SELECT sum(raw - 1) FROM tjobs) AS total,
         (SELECT count(*) FROM tjobs) AS njobs
  FROM tjobs
)
SELECT id, wo,
       1 + cum * ($PAGES - njobs) / total
         - coalesce(lag(cum) OVER (ORDER BY id), 0) * ($PAGES - njobs) / total
         AS pages
FROM c;

INSERT INTO jobs (id, workorder, account, hotfolder, profile, batch,
                  operator_name, source_path, output_path, state, pages,
                  created_at, updated_at, finished_at, bill_blank,
                  billing_month)
SELECT id, number, code, 'scans',
       CASE bb WHEN 1 THEN 'archival' ELSE 'default' END,
       printf('B%06d', id), printf('operator%d', 1 + id % 6),
       printf('/srv/pagemill/spool/%s/b%06d', number, id),
       printf('/srv/pagemill/out/%s/%s/job-%d', code, number, id),
       'done', pages, fin - 600 - 20 * pages, fin, fin, bb,
       strftime('%Y-%m', fin, 'unixepoch')
FROM (SELECT t.id, t.pages, w.number, a.code,
             m.start + 3600
               + (($(h "t.id" 32) * (m.stop - m.start - 3600)) >> 20) AS fin,
             $(h "t.id" 31) % 5 = 0 AS bb
      FROM tpages t
      JOIN work_orders w ON w.id = t.wo
      JOIN accounts a ON a.id = w.account_id
      JOIN months m ON m.k = (t.wo - 1) / $WO_PER_MONTH)
ORDER BY id;

-- One done task per page, finished before its job, 3% of them blank.
INSERT INTO page_tasks (job, page, src, frame, sha256, state, attempts,
                        width, height, xres, yres, rotation,
                        orient_confidence, skew, skew_confidence, blank,
                        ink_ratio, words, confidence, kind, codec, bytes,
                        ms_decode, ms_orient, ms_deskew, ms_blank, ms_ocr,
                        ms_encode, ms_total, image, text_pdf, finished_at)
SELECT job, page, printf('%s/%04d.tif', src, page), 0,
       lower(hex(randomblob(32))), 'done', 1,
       2550, 3300, 300, 300, 0, 9.5, 0.3, 4.2, blank,
       CASE blank WHEN 1 THEN 0.0001 ELSE 0.08 END,
       CASE blank WHEN 1 THEN 0 ELSE 350 END, 91.5, 'bitonal', 'g4',
       60000, 12.0, 10.0, 20.0, 2.0, 900.0, 30.0, 974.0,
       printf('%s/%04d.tif', outp, page), printf('%s/%04d.pdf', outp, page),
       fin - 2 * (n - page)
FROM (SELECT j.id AS job, p.value AS page, j.source_path AS src,
             j.output_path AS outp, j.pages AS n, j.finished_at AS fin,
             $(h "j.id * 401 + p.value" 41) % 100 < 3 AS blank
      FROM jobs j, generate_series(1, j.pages) p);

-- The billed page of each task (catalog: billable_add), same blank flag.
INSERT INTO billable_pages (job, page, blank, created_at)
SELECT job, page, blank, finished_at FROM page_tasks ORDER BY job, page;

COMMIT;
EOF

log "filling $DB: $ACCOUNTS accounts, $WO_PER_MONTH work orders a month for $NMONTHS months, $PAGES pages (one transaction)"
now_us
t0=$NOW_US
sql <"$WORK/fill.sql" >"$LOGS/fill.log" 2>&1 || die "the fill failed (see $LOGS/fill.log)"
now_us
FILL_S=$(calc "($NOW_US - $t0) / 1e6")
log "fill: $FILL_S s"

log "checking the fill (foreign keys, counts)"
FK_ROWS=$(sql 'PRAGMA foreign_key_check' | wc -l)
[[ $FK_ROWS -eq 0 ]] || die "PRAGMA foreign_key_check: $FK_ROWS violations"
IFS='|' read -r N_ACCOUNTS N_FEES N_WO N_JOBS N_TASKS N_BILLABLE N_BLANK MIN_P MAX_P N_MONTHS N_BILL_BLANK < <(
    sql "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM fee_codes),
                (SELECT count(*) FROM work_orders), (SELECT count(*) FROM jobs),
                (SELECT count(*) FROM page_tasks), (SELECT count(*) FROM billable_pages),
                (SELECT sum(blank) FROM billable_pages), (SELECT min(pages) FROM jobs),
                (SELECT max(pages) FROM jobs),
                (SELECT count(DISTINCT billing_month) FROM jobs),
                (SELECT sum(bill_blank) FROM jobs)")
[[ $N_BILLABLE -eq $PAGES ]] || die "billable_pages has $N_BILLABLE rows, not $PAGES"
[[ $N_TASKS -eq $PAGES ]] || die "page_tasks has $N_TASKS rows, not $PAGES"
[[ $N_ACCOUNTS -eq $ACCOUNTS ]] || die "$N_ACCOUNTS accounts, not $ACCOUNTS"
[[ $N_MONTHS -eq $NMONTHS ]] || die "jobs bill in $N_MONTHS months, not $NMONTHS"
[[ $MIN_P -ge 1 && $MAX_P -le 400 ]] || die "job sizes $MIN_P..$MAX_P are outside 1..400"
[[ $(sql "SELECT count(*) FROM jobs WHERE billing_month <>
             strftime('%Y-%m', finished_at, 'unixepoch') OR state <> 'done'") -eq 0 ]] ||
    die "a job's billing month is not its UTC finishing month"
sql 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
DB_BYTES=$(stat -c %s "$DB")
DB_MIB=$(calc "$DB_BYTES / 1048576")
BLANK_PCT=$(calc "100 * $N_BLANK / $N_BILLABLE")
log "catalog: $(printf '%.0f' "$DB_MIB") MiB; $N_JOBS jobs of $MIN_P..$MAX_P pages, $N_BILLABLE billable rows ($(printf '%.2f' "$BLANK_PCT")% blank)"

# ---------------------------------------------------------------------------
# 2. Close the first 23 months, in order, with the CLI.
# ---------------------------------------------------------------------------
month_add() { date -u -d "$FIRST_MONTH-01 +$1 month" +%Y-%m; }
stats() { # FILE -> "median max maxrss_kib" of lines "seconds kib"
    sort -n "$1" | awk '{ s[NR] = $1; if ($2 > m) m = $2; if ($1 > x) x = $1 }
        END { md = NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2;
              printf "%.2f %.2f %d\n", md, x, m }'
}

CLOSE_ROWS=()
: >"$LOGS/close.times"
for ((k = 0; k < NMONTHS - 1; k++)); do
    m=$(month_add "$k")
    /usr/bin/time -f '%e %M' -o "$LOGS/close-$m.time" \
        "$PAGEMILL" billing close "$m" --catalog "$DB" >"$LOGS/close-$m.out" 2>&1 ||
        die "billing close $m failed: $(cat "$LOGS/close-$m.out")"
    read -r e rss <"$LOGS/close-$m.time"
    echo "$e $rss" >>"$LOGS/close.times"
    out=$(cat "$LOGS/close-$m.out")
    CLOSE_ROWS+=("$m|$e|$(calc "$rss / 1024")|$out")
    log "close $m: $e s: $out"
done
read -r CLOSE_MED CLOSE_MAX CLOSE_RSS < <(stats "$LOGS/close.times")
CLOSE_RSS_MIB=$(calc "$CLOSE_RSS / 1024")
[[ $(sql 'SELECT count(*) FROM billing_periods') -eq $((NMONTHS - 1)) ]] ||
    die "expected $((NMONTHS - 1)) closed months"

# ---------------------------------------------------------------------------
# 3. The reports, timed.
# ---------------------------------------------------------------------------
OPEN=$LAST_MONTH
CLOSED=$(month_add $((NMONTHS - 2)))
YEAR_FROM=2025-01
YEAR_TO=2025-12
BUSY_ACCOUNT=$(sql "SELECT w.account_id FROM jobs j JOIN work_orders w ON w.number = j.workorder
                    GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
BUSY_ACCOUNT=$(printf 'A%04d' "$BUSY_ACCOUNT")

# name|target seconds or -|description|arguments
REPORTS=(
    "open-month|$ONE_MONTH_TARGET|open month $OPEN, table|--month $OPEN"
    "open-month-csv|$ONE_MONTH_TARGET|open month $OPEN, csv|--month $OPEN --format csv"
    "open-month-json|$ONE_MONTH_TARGET|open month $OPEN, json|--month $OPEN --format json"
    "closed-month|$ONE_MONTH_TARGET|closed month $CLOSED, table|--month $CLOSED"
    "closed-month-csv|$ONE_MONTH_TARGET|closed month $CLOSED, csv|--month $CLOSED --format csv"
    "year|-|12 months $YEAR_FROM..$YEAR_TO (closed), table|--from $YEAR_FROM --to $YEAR_TO"
    "all|$ALL_MONTHS_TARGET|24 months $FIRST_MONTH..$LAST_MONTH, all accounts, table|--from $FIRST_MONTH --to $LAST_MONTH"
    "all-csv|$ALL_MONTHS_TARGET|24 months, all accounts, csv|--from $FIRST_MONTH --to $LAST_MONTH --format csv"
    "all-json|$ALL_MONTHS_TARGET|24 months, all accounts, json|--from $FIRST_MONTH --to $LAST_MONTH --format json"
    "account|-|24 months, account $BUSY_ACCOUNT (the busiest), table|--from $FIRST_MONTH --to $LAST_MONTH --account $BUSY_ACCOUNT"
)

REPORT_ROWS=()
FAILS=0
for r in "${REPORTS[@]}"; do
    IFS='|' read -r name target what args <<<"$r"
    read -r -a argv <<<"$args"
    # One untimed run keeps the output (lines, totals) and warms the cache.
    pm billing report "${argv[@]}" >"$OUT/$name.out" 2>"$LOGS/$name.err" ||
        die "billing report $args failed (see $LOGS/$name.err)"
    : >"$LOGS/$name.times"
    for ((i = 0; i < RUNS; i++)); do
        /usr/bin/time -f '%e %M' -a -o "$LOGS/$name.times" \
            "$PAGEMILL" billing report "${argv[@]}" --catalog "$DB" >/dev/null 2>>"$LOGS/$name.err" ||
            die "billing report $args failed (see $LOGS/$name.err)"
    done
    read -r med max rss < <(stats "$LOGS/$name.times")
    lines=$(wc -l <"$OUT/$name.out")
    verdict=-
    if [[ $target != - ]]; then
        if awk "BEGIN { exit !($med < $target) }"; then verdict=PASS; else verdict=FAIL; FAILS=$((FAILS + 1)); fi
        [[ $verdict == PASS ]] && ! awk "BEGIN { exit !($max < $target) }" && verdict="PASS (max over)"
        target="< $target s"
    fi
    REPORT_ROWS+=("$what|$med|$max|$(calc "$rss / 1024")|$lines|$target|$verdict|billing report $args")
    log "$what: median $med s, max $max s, $(calc "$rss / 1024") MiB, $lines lines: $verdict"
done

# ---------------------------------------------------------------------------
# 4. The totals, against the same sums done in SQL from billable_pages.
# ---------------------------------------------------------------------------
log "checking report totals against SQL"
# Per month: pages, blank, billable, cents; each job priced at the fee in
# effect when it finished, minimum charge per job, rounded to cents once.
TOTALS_SQL="
WITH jb AS (
  SELECT j.id, j.billing_month AS month, j.bill_blank, j.finished_at,
         w.fee_code, count(*) AS pages, sum(b.blank) AS blank
  FROM jobs j JOIN billable_pages b ON b.job = j.id
  JOIN work_orders w ON w.number = j.workorder
  WHERE j.state = 'done' GROUP BY j.id
), priced AS (
  SELECT jb.*, CASE bill_blank WHEN 1 THEN pages ELSE pages - blank END
                 AS billable, f.unit_price_millicents AS unit,
         f.min_charge_millicents AS minc
  FROM jb JOIN fee_codes f ON f.code = jb.fee_code
   AND f.effective_from = (SELECT max(g.effective_from) FROM fee_codes g
                           WHERE g.code = jb.fee_code
                             AND g.effective_from <= jb.finished_at)
)
SELECT month, sum(pages), sum(blank), sum(billable),
       sum((max(billable * unit, minc) + 500) / 1000)
FROM priced GROUP BY month ORDER BY month"
sql "$TOTALS_SQL" >"$OUT/sql-totals.txt"
csv_total() { # FILE -> "pages blank billable amount" of the overall row
    tr -d '\r' <"$1" | awk -F, '$2 == "total" { print $7, $8, $9, $11 }' | tail -n 1
}
cents() { awk -v v="$1" 'BEGIN { split(v, p, "."); printf "%d", p[1] * 100 + p[2] }'; }
money() { awk -v c="$1" 'BEGIN { printf "%d.%02d", c / 100, c % 100 }'; }
CHECKS=()
check() { # what expected got
    local ok=ok
    [[ $2 == "$3" ]] || { ok=MISMATCH; FAILS=$((FAILS + 1)); }
    CHECKS+=("$1|$2|$3|$ok")
    log "check $1: SQL $2, report $3: $ok"
}
IFS='|' read -r _ sp sb sbl sc < <(grep "^$OPEN|" "$OUT/sql-totals.txt")
read -r rp rb rbl ra < <(csv_total "$OUT/open-month-csv.out")
check "open month $OPEN: pages, blank, billable, amount" \
    "$sp $sb $sbl $(money "$sc")" "$rp $rb $rbl $ra"
IFS='|' read -r _ sp sb sbl sc < <(grep "^$CLOSED|" "$OUT/sql-totals.txt")
read -r rp rb rbl ra < <(csv_total "$OUT/closed-month-csv.out")
check "closed month $CLOSED: pages, blank, billable, amount" \
    "$sp $sb $sbl $(money "$sc")" "$rp $rb $rbl $ra"
read -r sp sb sbl sc < <(awk -F'|' '{ p += $2; b += $3; l += $4; c += $5 }
    END { printf "%d %d %d %d\n", p, b, l, c }' "$OUT/sql-totals.txt")
read -r rp rb rbl ra < <(csv_total "$OUT/all-csv.out")
check "24 months: pages, blank, billable, amount" \
    "$sp $sb $sbl $(money "$sc")" "$rp $rb $rbl $ra"
frozen=$(sql "SELECT group_concat(month || '=' || total_cents, ' ') FROM
              (SELECT month, total_cents FROM billing_periods ORDER BY month)")
expect=$(awk -F'|' -v open="$OPEN" '$1 != open { printf "%s%s=%s", n++ ? " " : "", $1, $5 }' \
    "$OUT/sql-totals.txt")
check "the $((NMONTHS - 1)) closed months' frozen totals (cents)" "$expect" "$frozen"
JSON_TOTAL=$(jq -r '.totals.overall.amount' "$OUT/all-json.out" 2>/dev/null || echo "?")
check "24 months, json overall amount" "$(money "$sc")" "$JSON_TOTAL"

# ---------------------------------------------------------------------------
# 5. Query plans, with the SQL read from catalog/sqlite_ledger.c.
# ---------------------------------------------------------------------------
# stmt_sql ST_NAME: the statement's SQL, its C string literals joined.
stmt_sql() {
    awk -v key="[$1]" 'index($0, key) { on = 1 } on { print } on && /"},?$/ { exit }' \
        "$ROOT/catalog/sqlite_ledger.c" | grep -o '"[^"]*"' | tail -n +2 | sed 's/^"//; s/"$//' | tr -d '\n'
}
MONTH_END=$(date -u -d "$OPEN-01 +1 month" +%s)
PLANS=()
plan() { # title ST_NAME ?1 ?2 ?3
    local text
    text=$(stmt_sql "$2")
    [[ -n $text ]] || die "cannot find $2 in catalog/sqlite_ledger.c"
    sql ".parameter set ?1 $3" ".parameter set ?2 $4" ".parameter set ?3 $5" \
        "EXPLAIN QUERY PLAN $text" >"$OUT/plan-$2-$4.txt" 2>&1 ||
        die "EXPLAIN QUERY PLAN of $2 failed: $(cat "$OUT/plan-$2-$4.txt")"
    PLANS+=("$1|$2|$text|$OUT/plan-$2-$4.txt")
}
plan "bill_open, open month, all accounts (?1 = '$OPEN')" ST_BILL_OPEN "\"'$OPEN'\"" NULL NULL
plan "bill_open, one account (?2 = '$BUSY_ACCOUNT')" ST_BILL_OPEN "\"'$OPEN'\"" "\"'$BUSY_ACCOUNT'\"" NULL
plan "bill_frozen, closed month, all accounts (?1 = '$CLOSED')" ST_BILL_FROZEN "\"'$CLOSED'\"" NULL NULL
plan "bill_frozen, one account (?2 = '$BUSY_ACCOUNT')" ST_BILL_FROZEN "\"'$CLOSED'\"" "\"'$BUSY_ACCOUNT'\"" NULL
plan "bill_blockers, at a close (?1 = end of $OPEN)" ST_BILL_BLOCKERS "$MONTH_END" NULL NULL

# The statements alone in the sqlite3 shell (rows to /dev/null), against
# the whole command above: how much of a report is SQL.
sql_time() { # ST_NAME ?1 ?2
    local text t
    text=$(stmt_sql "$1")
    now_us
    t=$NOW_US
    sql ".parameter set ?1 $2" ".parameter set ?2 $3" ".parameter set ?3 NULL" \
        "$text" >/dev/null
    now_us
    calc "($NOW_US - $t) / 1e6"
}
SQL_OPEN=$(sql_time ST_BILL_OPEN "\"'$OPEN'\"" NULL)
SQL_OPEN=$(sql_time ST_BILL_OPEN "\"'$OPEN'\"" NULL)
SQL_FROZEN=$(sql_time ST_BILL_FROZEN "\"'$CLOSED'\"" NULL)
SQL_FROZEN=$(sql_time ST_BILL_FROZEN "\"'$CLOSED'\"" NULL)
log "SQL alone: bill_open $OPEN $SQL_OPEN s, bill_frozen $CLOSED $SQL_FROZEN s"

# ---------------------------------------------------------------------------
# 6. Results.
# ---------------------------------------------------------------------------
{
    echo "# Billing benchmark, $STARTED"
    echo
    echo "Machine: $(uname -srm), $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)."
    echo "Load average before the run: $LOAD_BEFORE. Binary: $PAGEMILL"
    echo "($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') in $ROOT). SQLite $(sqlite3 --version | cut -d' ' -f1)."
    echo "Command: \`bash scripts/bench-billing.sh --build $BUILD --work $WORK --runs $RUNS --pages $PAGES\`"
    echo
    echo "## Catalog"
    echo
    echo "- $N_ACCOUNTS accounts, $N_FEES fee rows (5 codes), $N_WO work orders ($WO_PER_MONTH a month, $FIRST_MONTH..$LAST_MONTH),"
    echo "  $N_JOBS done jobs of $MIN_P..$MAX_P pages ($N_BILL_BLANK bill blank pages),"
    echo "  $N_TASKS page_tasks, $N_BILLABLE billable_pages ($N_BLANK blank, $(printf '%.2f' "$BLANK_PCT")%)."
    echo "- Fill (one transaction, sqlite3 shell, foreign keys on): $(printf '%.1f' "$FILL_S") s;"
    echo "  PRAGMA foreign_key_check: $FK_ROWS rows."
    echo "- Catalog file: $DB_BYTES bytes ($(printf '%.0f' "$DB_MIB") MiB) after a WAL checkpoint, before the closes;"
    echo "  $(stat -c %s "$DB") bytes now (+ WAL $(stat -c %s "$DB-wal" 2>/dev/null || echo 0))."
    echo
    echo "## Closing $FIRST_MONTH..$CLOSED (\`pagemill billing close MONTH\`, in order)"
    echo
    echo "Median $CLOSE_MED s, max $CLOSE_MAX s, peak RSS $(printf '%.1f' "$CLOSE_RSS_MIB") MiB."
    echo
    echo "| month | seconds | peak RSS MiB | output |"
    echo "|-------|---------|--------------|--------|"
    for row in "${CLOSE_ROWS[@]}"; do
        IFS='|' read -r m e rss o <<<"$row"
        printf '| %s | %s | %.1f | %s |\n' "$m" "$e" "$rss" "$o"
    done
    echo
    echo "## Reports (\`pagemill billing report\`, output to /dev/null, $RUNS runs each after one untimed run)"
    echo
    echo "| what | seconds median | seconds max | peak RSS MiB | lines | target | result |"
    echo "|------|----------------|-------------|--------------|-------|--------|--------|"
    for row in "${REPORT_ROWS[@]}"; do
        IFS='|' read -r what med max rss lines target verdict _ <<<"$row"
        printf '| %s | %s | %s | %.1f | %s | %s | %s |\n' "$what" "$med" "$max" "$rss" "$lines" "$target" "$verdict"
    done
    echo
    echo "Targets are judged on the median. The statements alone in the sqlite3 shell"
    echo "(process start included): bill_open $OPEN $(printf '%.3f' "$SQL_OPEN") s, bill_frozen $CLOSED $(printf '%.3f' "$SQL_FROZEN") s."
    echo
    echo "Commands (each with \`--catalog $DB\`):"
    echo
    for row in "${REPORT_ROWS[@]}"; do
        IFS='|' read -r _ _ _ _ _ _ _ cmd <<<"$row"
        echo "- \`pagemill $cmd\`"
    done
    echo
    echo "## Totals: reports against SQL over billable_pages and the fee schedule"
    echo
    echo "| check | SQL | report | result |"
    echo "|-------|-----|--------|--------|"
    for row in "${CHECKS[@]}"; do
        IFS='|' read -r what e g ok <<<"$row"
        if [[ ${#e} -gt 60 ]]; then
            [[ $ok == ok ]] && e="(all equal)" g="(all equal)"
        fi
        printf '| %s | %s | %s | %s |\n' "$what" "$e" "$g" "$ok"
    done
    echo
    echo "## Query plans (EXPLAIN QUERY PLAN, SQL from catalog/sqlite_ledger.c)"
    for row in "${PLANS[@]}"; do
        IFS='|' read -r title st text file <<<"$row"
        echo
        echo "### $title"
        echo
        echo '```'
        cat "$file"
        echo '```'
    done
    echo
    echo "SQL of the statements:"
    echo
    for st in ST_BILL_OPEN ST_BILL_FROZEN ST_BILL_BLOCKERS; do
        echo "- $st: \`$(stmt_sql "$st")\`"
    done
} >"$RESULTS"

cat "$RESULTS"
log "results: $RESULTS"
[[ $FAILS -eq 0 ]] || log "$FAILS target(s) or check(s) failed"
