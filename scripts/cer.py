#!/usr/bin/env python3
"""Character error rate of an OCR text against ground truth.

usage: cer.py GROUND_TRUTH HYPOTHESIS

Prints CER = Levenshtein(norm(gt), norm(hyp)) / len(norm(gt)) with 4
decimals, where norm() collapses every run of whitespace (spaces, tabs,
newlines, form feeds) to one space and strips the ends.  Files are read as
UTF-8 (undecodable bytes are replaced, not fatal).  The value can exceed 1
when the hypothesis is much longer than the ground truth.

Standard library only.
"""

import re
import sys

_WS = re.compile(r"\s+")


def normalise(text):
    return _WS.sub(" ", text).strip()


def levenshtein(a, b):
    """Edit distance (insert, delete, substitute, each cost 1).

    O(len(a) * len(b)) time, two rows of O(len(b)) memory."""
    # Common prefix and suffix cost nothing; trimming them is exact and
    # makes near-identical texts cheap.
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a = a[start:end_a]
    b = b[start:end_b]
    if not a:
        return len(b)
    if not b:
        return len(a)

    prev = list(range(len(b) + 1))
    cur = [0] * (len(b) + 1)
    for i, ca in enumerate(a, 1):
        cur[0] = i
        left = i          # cur[j - 1]
        diag = i - 1      # prev[j - 1]
        for j, cb in enumerate(b, 1):
            up = prev[j]
            if ca == cb:
                val = diag
            else:
                val = diag if diag < up else up
                if left < val:
                    val = left
                val += 1
            cur[j] = val
            left = val
            diag = up
        prev, cur = cur, prev
    return prev[len(b)]


def cer(ground_truth, hypothesis):
    gt = normalise(ground_truth)
    hyp = normalise(hypothesis)
    if not gt:
        return 0.0 if not hyp else float("inf")
    return levenshtein(gt, hyp) / len(gt)


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: cer.py GROUND_TRUTH HYPOTHESIS\n")
        return 2
    try:
        gt = _read(argv[1])
        hyp = _read(argv[2])
    except OSError as e:
        sys.stderr.write("cer.py: %s\n" % e)
        return 1
    print("%.4f" % cer(gt, hyp))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
