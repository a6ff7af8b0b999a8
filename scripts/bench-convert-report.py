#!/usr/bin/env python3
"""The report of scripts/bench-convert.sh, from what it left in WORK/logs.

Environment: BENCH_WORK (the work folder), BENCH_RUNS, BENCH_MODES,
BENCH_CLASSES, BENCH_QUICK and the host facts (BENCH_NPROC, BENCH_CPU,
BENCH_PAGEMILL, BENCH_TESSERACT, BENCH_OCRMYPDF, BENCH_IMG2PDF). Writes
WORK/bench-convert.md and prints it. Standard library only.
"""

import csv
import glob
import json
import os
import statistics
import time

W = os.environ["BENCH_WORK"]
RUNS = int(os.environ["BENCH_RUNS"])
MODES = os.environ["BENCH_MODES"].split()
CLASSES = os.environ["BENCH_CLASSES"].split()
TOOLS = ["pagemill", "ocrmypdf", "tesseract"]
STAGES = ["decode", "orient", "deskew", "blank", "ocr", "encode"]
TARGETS = {"ocrmypdf": 1.9, "tesseract": 1.0}  # mixed document, pagemill / tool


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def table(head, body):
    cols = list(zip(*([head] + body))) if body else [[h] for h in head]
    width = [max(len(str(x)) for x in col) for col in cols]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, width)) + " |"

    out = [line(head), "|" + "|".join("-" * (w + 2) for w in width) + "|"]
    out += [line(r) for r in body]
    return "\n".join(out)


res = {(int(r["run"]), r["mode"], r["tool"], r["class"]): r
       for r in rows(os.path.join(W, "logs/results.tsv"))}


def pps(run, mode, tool, c):
    r = res.get((run, mode, tool, c))
    if not r:
        return None
    s = num(r["seconds"])
    return int(r["pages"]) / s if s else None


def ratio(run, mode, c, other):
    a, b = pps(run, mode, "pagemill", c), pps(run, mode, other, c)
    return a / b if a and b else None


def fmt(x, f="%.2f"):
    return f % x if x is not None else "n/a"


def spread(vals, f="%.2f"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f % vals[0]
    return (f + " (" + f + "-" + f + ")") % (statistics.median(vals), min(vals), max(vals))


out = []
quick = os.environ.get("BENCH_QUICK") == "1"
out.append("# pagemill convert benchmark%s" % (" (--quick smoke run)" if quick else ""))
out.append("")
out.append("- date: %s" % time.strftime("%Y-%m-%d %H:%M %Z"))
out.append("- host: %s CPUs, %s" % (os.environ.get("BENCH_NPROC"), os.environ.get("BENCH_CPU")))
out.append("- pagemill: %s" % os.environ.get("BENCH_PAGEMILL"))
out.append("- tesseract: %s; ocrmypdf: %s; img2pdf: %s" % (
    os.environ.get("BENCH_TESSERACT"), os.environ.get("BENCH_OCRMYPDF"), os.environ.get("BENCH_IMG2PDF")))
out.append("- runs: %d; modes: %s; work dir %s" % (RUNS, " ".join(MODES), W))
out.append("- load (uptime):")
for line in open(os.path.join(W, "logs/uptime.txt")):
    out.append("  - " + line.strip())
out.append("")

for mode in MODES:
    classes = [c for c in CLASSES if not (mode == "page" and c == "mixed")]
    title = {"document": "Documents (each class one multi-page document)",
             "page": "Pages (every page its own input)"}[mode]
    out.append("## %s" % title)
    out.append("")
    body = []
    for run in range(1, RUNS + 1):
        for c in classes:
            r0 = res.get((run, mode, "pagemill", c))
            if not r0:
                continue
            cells = [run, c, r0["pages"], r0["load"]]
            for t in TOOLS:
                r = res.get((run, mode, t, c))
                cells.append("%s / %s" % (r["seconds"], fmt(pps(run, mode, t, c), "%.3f")) if r else "-")
            cells += [fmt(ratio(run, mode, c, "ocrmypdf")), fmt(ratio(run, mode, c, "tesseract"))]
            body.append(cells)
    out.append(table(["run", "class", "pages", "load", "pagemill s / p/s", "ocrmypdf s / p/s",
                      "tesseract s / p/s", "pm / ocrmypdf", "pm / tesseract"], body))
    out.append("")
    out.append("Ratios over the runs (median, min-max; each ratio from one run):")
    out.append("")
    body = []
    for c in classes:
        ro = [ratio(run, mode, c, "ocrmypdf") for run in range(1, RUNS + 1)]
        rt = [ratio(run, mode, c, "tesseract") for run in range(1, RUNS + 1)]
        verdict = ""
        if mode == "document" and c == "mixed":
            mo = [v for v in ro if v is not None]
            mt = [v for v in rt if v is not None]
            verdict = "%s / %s" % (
                ("met" if mo and statistics.median(mo) >= TARGETS["ocrmypdf"] else "NOT met") + " (>= 1.9)",
                ("met" if mt and statistics.median(mt) >= TARGETS["tesseract"] else "NOT met") + " (>= 1.0)")
        body.append([c, spread(ro), spread(rt), verdict])
    out.append(table(["class", "pagemill / ocrmypdf", "pagemill / tesseract", "target (median)"], body))
    out.append("")

    body = []
    for t in TOOLS:
        for c in classes:
            rss = [num(res[(run, mode, t, c)]["rss_kb"]) for run in range(1, RUNS + 1)
                   if (run, mode, t, c) in res]
            oks = [res[(run, mode, t, c)]["ok"] + "/" + res[(run, mode, t, c)]["pages"]
                   for run in range(1, RUNS + 1) if (run, mode, t, c) in res]
            rcs = sorted({res[(run, mode, t, c)]["rc"] for run in range(1, RUNS + 1)
                          if (run, mode, t, c) in res})
            if rss:
                body.append([t, c, " ".join(oks), "%.0f" % (max(rss) / 1024.0), ",".join(rcs)])
    out.append("Pages converted, peak RSS (largest process, max over the runs), exit status:")
    out.append("")
    out.append(table(["tool", "class", "ok per run", "peak RSS MiB", "exit"], body))
    out.append("")

    size = {}
    for r in rows(os.path.join(W, "logs/bytes.tsv")):
        n = int(r["pages"])
        if r["mode"] == mode and n:
            size[(r["tool"], r["class"])] = (n, int(r["pdf_bytes"]) / n, int(r["image_bytes"]) / n)
    if size:
        out.append("Bytes per page (run 1): the whole PDF, and its page images as stored (qpdf "
                   "`/Length`); the last column is image bytes relative to ocrmypdf's (below 1: smaller).")
        out.append("")
        body = []
        for t in TOOLS:
            for c in classes:
                if (t, c) not in size:
                    continue
                n, pdfb, imgb = size[(t, c)]
                o = size.get(("ocrmypdf", c))
                body.append([t, c, n, "%.0f" % pdfb, "%.0f" % imgb,
                             "%.2f" % (imgb / o[2]) if o and o[2] else "n/a"])
        out.append(table(["tool", "class", "pages", "PDF bytes/page", "image bytes/page",
                          "image vs ocrmypdf"], body))
        out.append("")

# Where pagemill's time goes: documents only (one report per class and run).
if "document" in MODES:
    out.append("## Where pagemill's time goes (documents)")
    out.append("")
    out.append("Seconds summed over the pages of the document (`.pages.json`), per stage, then the run's "
               "timeline (convert's debug log): page work / workers is what the run would take with every "
               "worker busy from start to end; the gap is wall time minus that, split into start-up (process "
               "start until the first page began: scan, worker and engine start), spread (the pages' span "
               "beyond work / workers: a worker idle at the tail, or waiting), after (last page back until "
               "done: assembly, report) and outside (exec and exit, the rest of the wall time).")
    out.append("")
    tl = {(int(r["run"]), r["class"]): r for r in rows(os.path.join(W, "logs/timeline.tsv"))}
    body = []
    for run in range(1, RUNS + 1):
        for c in CLASSES:
            rep_path = os.path.join(W, "out/r%d/document/pagemill/%s/%s.pages.json" % (run, c, c))
            r = res.get((run, "document", "pagemill", c))
            if not os.path.exists(rep_path) or not r:
                continue
            rep = json.load(open(rep_path))
            pr = [p for p in rep.get("page_results", []) if p.get("ms")]
            st = [sum(p["ms"].get(s, 0) for p in pr) / 1000 for s in STAGES]
            work = sum(p["ms"].get("total", 0) for p in pr) / 1000
            osd = sum(1 for p in pr if p.get("orient_osd"))
            wall = num(r["seconds"])
            t = tl.get((run, c))
            if t:
                nw = int(t["workers"]) or 1
                ideal = work / nw
                first, last, done = num(t["first"]) / 1000, num(t["last"]) / 1000, num(t["done"]) / 1000
                spread_s = (last - first) - ideal
                gap = [wall - ideal, first, spread_s, done - last, wall - done]
                gap = ["%.2f" % g for g in gap]
            else:
                ideal = work / 2
                gap = ["%.2f" % (wall - ideal), "-", "-", "-", "-"]
            body.append([run, c, len(pr)] + ["%.2f" % x for x in st] +
                        ["%.2f" % work, "%d" % osd, "%.2f" % ideal, "%.2f" % wall] + gap)
    out.append(table(["run", "class", "pages"] + STAGES +
                     ["page work", "OSD pages", "work/workers", "wall", "gap", "start-up",
                      "spread", "after", "outside"], body))
    out.append("")

# The archival outputs per page (documents): convert builds no bag, no
# TIFF master (its assembly task names none) and no ALTO (only the
# service's page tasks write one), so every figure should read 0; shown so
# that one appearing is seen, against the same run's conversion time.
if "document" in MODES:
    out.append("## Archival outputs per page (documents)")
    out.append("")
    out.append("`pagemill convert` writes the PDF/A, the text and the report: no TIFF master, no ALTO, "
               "no bag (those are the service's, docs/archival.md). From each document's report: "
               "`archival_ms.tiff_master` and the pages' `ms.alto`, in ms per page, against the "
               "conversion's wall time per page.")
    out.append("")
    body = []
    for run in range(1, RUNS + 1):
        for c in CLASSES:
            rep_path = os.path.join(W, "out/r%d/document/pagemill/%s/%s.pages.json" % (run, c, c))
            r = res.get((run, "document", "pagemill", c))
            if not os.path.exists(rep_path) or not r or not int(r["pages"]):
                continue
            rep = json.load(open(rep_path))
            n = int(r["pages"])
            conv = num(r["seconds"]) * 1000 / n
            tiff = (rep.get("archival_ms") or {}).get("tiff_master", 0) / n
            alto = sum((p.get("ms") or {}).get("alto", 0) for p in rep.get("page_results", [])) / n
            body.append([run, c, n, "%.1f" % conv, "%.2f" % tiff, "%.2f" % alto, "-",
                         "%.2f%%" % (100 * (tiff + alto) / conv)])
    out.append(table(["run", "class", "pages", "conversion ms/page", "TIFF master", "ALTO",
                      "bag + checksums", "% of conversion"], body))
    out.append("")

# CER
cer = rows(os.path.join(W, "logs/cer.tsv"))
if cer:
    out.append("## Character error rate (run 1)")
    out.append("")
    out.append("CER = Levenshtein distance / ground-truth length after collapsing whitespace "
               "(scripts/cer.py); a document's text is split at form feeds; a skewed copy is "
               "scored against its page's ground truth.")
    out.append("")
    by = {}
    order = []
    for r in cer:
        k = (r["mode"], r["class"], r["page"], r["file"], r["ground_truth"])
        if k not in by:
            by[k] = {}
            order.append(k)
        by[k][r["tool"]] = r["cer"]
    body = [list(k) + [by[k].get(t, "-") for t in TOOLS] for k in order]
    out.append(table(["mode", "class", "page", "file", "ground truth"] + TOOLS, body))
    out.append("")

out.append("## How each tool was run")
out.append("")
out.append("All with `OMP_THREAD_LIMIT=1` and two pages in flight; each timed as one `/usr/bin/time -v` run.")
out.append("")
out.append("- documents: pagemill `pagemill convert --jobs 2 --out OUT WORK/docs/CLASS` (one folder = one "
           "document); ocrmypdf `img2pdf -o CLASS.img.pdf PAGES...` then `ocrmypdf --jobs 2 --deskew "
           "--output-type pdfa --sidecar CLASS.txt CLASS.img.pdf CLASS.pdf`, both inside the time; "
           "tesseract `tesseract PAGE OUTBASE txt pdf` per page, 2 at a time (`xargs -P 2`), one PDF per "
           "page and no document: the engine alone")
out.append("- pages: pagemill `pagemill convert --jobs 2 --out OUT PAGES...` (one document per page); "
           "ocrmypdf `ocrmypdf --jobs 1 --deskew --output-type pdfa --sidecar OUT.txt PAGE OUT.pdf`, "
           "2 at a time; tesseract as above")
out.append("- Peak RSS is time -v's \"Maximum resident set size\": the largest single process in the tree, "
           "not the sum of the processes alive at the same time.")
out.append("- ocrmypdf also deskews and writes PDF/A (Ghostscript), which the bare tesseract loop does not; "
           "pagemill deskews, orients, checks blank pages and writes PDF/A.")
out.append("- The machine is shared: read the load averages above before trusting small differences; "
           "ratios are taken within one run.")

text = "\n".join(out) + "\n"
with open(os.path.join(W, "bench-convert.md"), "w") as f:
    f.write(text)
print(text)
