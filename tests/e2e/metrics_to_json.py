# Reads a Prometheus text exposition on stdin with the Prometheus client's
# own parser (Debian python3-prometheus-client) and prints every sample as
# JSON: {"name{label=value}{label=value}": value}, labels sorted.
# Used by tests/e2e/test_http.c; a text the parser refuses exits non-zero.
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        key = s.name + "".join(
            "{%s=%s}" % (k, s.labels[k]) for k in sorted(s.labels))
        out[key] = s.value
json.dump(out, sys.stdout)
