#!/usr/bin/env python3
"""Tables of the orientation benchmark (scripts/bench-orient.sh) from
WORK/out-old and WORK/out-new: usage: bench-orient.py WORK"""
import json, os, re, statistics, sys

work = sys.argv[1]
KINDS = ["dense", "table", "chart", "fax", "little", "script", "notext"]


def load(name):
    path = os.path.join(work, "out-" + name, "pages.pages.json")
    if not os.path.exists(path):
        return None
    pages = {}
    for p in json.load(open(path))["page_results"]:
        m = re.match(r"(\w+)__(.+)__r(\d+)__s([-+]\d+)\.png$",
                     os.path.basename(p["src"]))
        kind, name, turned, skew = m.group(1), m.group(2), int(m.group(3)), m.group(4)
        need = (360 - turned) % 360
        rot = p.get("rotation", 0)
        if not p["ok"]:
            verdict = "failed"
        elif rot == need:
            verdict = "right"
        elif rot == 0:
            verdict = "left"
        else:
            verdict = "wrong"
        pages[(kind, name, turned, skew)] = dict(p, verdict=verdict)
    return pages


runs = [(n, load(n)) for n in ("old", "new")]
runs = [(n, r) for n, r in runs if r is not None]


def cell(pages, pred):
    sel = [p for k, p in pages.items() if pred(k)]
    c = {v: sum(p["verdict"] == v for p in sel) for v in ("right", "wrong", "left")}
    return "%d / %d / %d" % (c["right"], c["wrong"], c["left"])


print("right / wrong / left as scanned, per kind and turn (pages turned "
      "clockwise by that much, as stored and skewed +/-2 degrees):\n")
head = "| kind | pages |"
for turn in (0, 90, 180, 270):
    head += "".join(" %s %d |" % (n, turn) for n, _ in runs)
print(head)
print("|---" * (2 + 4 * len(runs)) + "|")
any_pages = runs[0][1]
for kind in KINDS + ["all"]:
    names = {k[1] for k in any_pages if kind in ("all", k[0])}
    if not names:
        continue
    row = "| %s | %d |" % (kind, len(names))
    for turn in (0, 90, 180, 270):
        for _, pages in runs:
            row += " %s |" % cell(pages, lambda k: kind in ("all", k[0]) and k[2] == turn)
    print(row)

ref_name, ref = runs[-1]  # group timings by how the last run decided
print("\nOrientation time per page, ms (median / worst), by how the %s "
      "build decided:\n" % ref_name)
print("| decided by | pages |" + "".join(" %s |" % n for n, _ in runs))
print("|---|---|" + "---|" * len(runs))
for method in ("upright-check", "osd", "read", "too-little-text", "all"):
    keys = [k for k, p in ref.items()
            if method == "all" or p.get("orient_method") == method]
    if not keys:
        continue
    row = "| %s | %d |" % (method, len(keys))
    for _, pages in runs:
        ms = [pages[k]["ms"]["orient"] for k in keys if k in pages]
        row += " %.0f / %.0f |" % (statistics.median(ms), max(ms))
    print(row)

for name, pages in runs:
    print("\nPages not right, %s:\n" % name)
    for k in sorted(pages):
        p = pages[k]
        if p["verdict"] == "right":
            continue
        line = "- %s %s turned %d skew %s: %s, rotation %d" % (
            k[0], k[1], k[2], k[3], p["verdict"], p.get("rotation", 0))
        if p.get("orient_osd"):
            line += ", OSD confidence %.1f" % p.get("orient_confidence", 0)
        if "orient_method" in p:
            line += ", by %s, OSD proposed %s, read %s" % (
                p["orient_method"], p.get("orient_osd_rotation"),
                p.get("orient_read"))
        print(line)
