"""Soak: the serving core under a steady load for minutes, at about 70% of its capacity.

Measures the capacity first (a short closed-loop burst of single-row requests), then paces
requests at `--share` of it for `--minutes`, on loopback only, bounded in count and time. It
passes when there was no error, the server's resident memory grew by at most 10%, and each
minute's p99 stayed within 3x of the first minute's. Writes `reports/soak.json` and exits 1
when a criterion is missed. Run: `.venv/bin/python benchmarks/soak.py` (or `tox -e soak`).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from mlcheck.data.io import read_table
from mlcheck.models.demo import demo_data_path, demo_model_path
from mlcheck.probes.http import PredictConnection, records_from_frame, run_http_requests
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.process import ServedModel
from mlcheck.stats.timing import percentiles_ms

FEATURES = [
    "age", "job", "marital", "education", "default", "balance", "housing", "loan", "contact",
    "duration", "campaign", "pdays", "previous", "poutcome",
]  # fmt: skip


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def paced(url: str, records: list[dict], rate: float, seconds: float, threads: int) -> dict:
    """`rate` requests per second for `seconds`, from `threads` keep-alive connections."""
    per_thread = rate / threads
    results: list[tuple[float, float, bool]] = []  # (started, seconds, ok)
    lock = threading.Lock()
    start = time.monotonic()

    def worker(index: int) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        conn = PredictConnection(parts.hostname, parts.port, timeout=10)
        body_of = [json.dumps(r).encode() for r in records]
        n = 0
        while True:
            due = start + n / per_thread + index / rate
            if due - start > seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            began = time.perf_counter()
            ok = conn.post(body_of[n % len(body_of)]) == "200"
            with lock:
                results.append((due - start, time.perf_counter() - began, ok))
            n += 1
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--share", type=float, default=0.7, help="share of measured capacity")
    parser.add_argument("--out", default="reports/soak.json")
    args = parser.parse_args()
    frame = read_table(demo_data_path("current"), "current").head(2000)
    records = records_from_frame(frame, FEATURES)
    with ServedModel(ServingConfig(str(demo_model_path()))) as served:
        pid = served.pid or os.getpid()
        burst = run_http_requests(served.url, records, requests=3000, concurrency=4)
        capacity = burst.requests / burst.wall_seconds
        rate = args.share * capacity
        rss_before = rss_mb(pid)
        run = paced(served.url, records, rate, args.minutes * 60, threads=4)
        rss_after = rss_mb(pid)
    rows = run["results"]
    errors = sum(1 for _, _, ok in rows if not ok)
    minutes = int(np.ceil(args.minutes))
    p99 = []
    for minute in range(minutes):
        window = [s for at, s, ok in rows if ok and minute * 60 <= at < (minute + 1) * 60]
        p99.append(percentiles_ms(window).get("p99_ms", float("nan")))
    growth = (rss_after - rss_before) / rss_before
    report = {
        "cores": os.cpu_count(),
        "capacity_rps": round(capacity, 1),
        "rate_rps": round(rate, 1),
        "requests": len(rows),
        "errors": errors,
        "rss_mb": [round(rss_before, 1), round(rss_after, 1)],
        "rss_growth": round(growth, 4),
        "p99_ms_per_minute": [round(v, 2) for v in p99],
    }
    checks = {
        "no errors": errors == 0,
        "memory grew by at most 10%": growth <= 0.10,
        "p99 stable (each minute within 3x of the first)": all(v <= 3 * p99[0] for v in p99),
    }
    report["checks"] = checks
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
