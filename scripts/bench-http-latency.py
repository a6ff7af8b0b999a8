#!/usr/bin/python3
"""Latency of GET /api/v1/status on a running `pagemill serve` ([http]).

usage: scripts/bench-http-latency.py PORT TOKEN [REQUESTS [RATE]]

Sends REQUESTS (default 2000) requests to 127.0.0.1:PORT, one new
connection each, paced at RATE per second (default 200), and prints the
median, 99th percentile and worst latency. Loopback only. Run it once on
an idle service and once while both workers convert to see what
conversion costs the API (the target: p99 under 20 ms at 200/s).
"""
import http.client
import sys
import time


def main():
    port, token = int(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 200.0
    lat = []
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        t0 = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/api/v1/status",
                  headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 200:
            sys.exit("GET /api/v1/status: %d" % r.status)
        lat.append((time.monotonic() - t0) * 1000)
    lat.sort()
    print("requests=%d rate=%.0f/s p50=%.2f ms p99=%.2f ms max=%.2f ms" %
          (n, rate, lat[n // 2], lat[max(0, int(n * 0.99) - 1)], lat[-1]))


if __name__ == "__main__":
    main()
