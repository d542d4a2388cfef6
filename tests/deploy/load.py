#!/usr/bin/env python3
"""Closed-loop load for the deployment tests: C clients POST /execute back to
back for D seconds. Prints one JSON object: requests, good (200 and
success), statuses, failures (first 10), req_per_s, and, per request, its
start time (seconds since the run began) and status, for timelines.

    load.py URL CONCURRENCY SECONDS [CODE]

With LOAD_STOP_FILE set, the clients also stop (after their request in
flight) as soon as that file exists.
"""
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request


def main():
    url, conc, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    code = sys.argv[4] if len(sys.argv) > 4 else "print(1+1)"
    body = json.dumps({"code": code}).encode()
    lock = threading.Lock()
    results = []
    t0 = time.monotonic()
    stop = t0 + secs

    stop_file = os.environ.get("LOAD_STOP_FILE")

    def client():
        while time.monotonic() < stop and not (stop_file and os.path.exists(stop_file)):
            start = time.monotonic()
            status, good, text = 0, False, ""
            req = urllib.request.Request(url, data=body,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    status, text = r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                status, text = e.code, e.read().decode(errors="replace")
            except Exception as e:  # connection refused, reset, timeout
                text = repr(e)
            if status == 200:
                try:
                    good = json.loads(text).get("success") is True
                except ValueError:
                    pass
            with lock:
                results.append((start - t0, time.monotonic() - t0, status, good,
                                "" if good else text[:300]))

    threads = [threading.Thread(target=client) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    statuses = {}
    for r in results:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    good = sum(1 for r in results if r[3])
    print(json.dumps({
        "requests": len(results), "good": good, "statuses": statuses,
        "seconds": round(elapsed, 2), "req_per_s": round(good / elapsed, 3),
        "failures": [r for r in results if not r[3]][:10],
        "timeline": [[round(r[0], 2), round(r[1], 2), r[2]] for r in results],
    }))


if __name__ == "__main__":
    main()
