"""Serving: mlcheck's core against `mlflow models serve` on the same saved model, side by side.

An XGBoost model of 200 trees on 6 numeric features, saved with MLflow, one worker each, on
loopback. wrk (Debian's package) posts one row per request from `--connections` connections
for `--seconds`; the report is requests/s, p50, p99 and errors of each server and their ratio,
plus 1000-row batches against the in-process predict rate. Machines here have 2 cores shared
by client and server, so the ratios measured in this one run are what to read.
Run: `.venv/bin/python benchmarks/bench_serving.py` (writes reports/bench_serving.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from mlcheck.models.load import load_model
from mlcheck.probes.pyfunc import mlflow_models_serve
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.process import ServedModel, free_port

FEATURES = [f"x{i}" for i in range(6)]
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""


def save_model(folder: Path) -> Path:
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(20_000, 6)), columns=FEATURES)
    y = (x["x0"] + x["x1"] * x["x2"] + rng.normal(0, 0.5, len(x)) > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=200, max_depth=6, n_jobs=1).fit(x, y)
    path = folder / "xgb200"
    mlflow.xgboost.save_model(model, str(path), signature=infer_signature(x, y))
    return path


def wrk(url: str, body: str, connections: int, seconds: int) -> dict[str, float]:
    """wrk's requests/s, p50 and p99 (ms) and non-2xx/socket errors for one POST body."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=body))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    os.unlink(script.name)

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(map(int, sockets.groups())) if sockets else 0
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "errors": errors,
    }


def wait_ready(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", default="reports/bench_serving.json")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_serving: wrk is missing; apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="mlcheck-bench-"))
    model_dir = save_model(folder)
    row = {name: 0.1 * i for i, name in enumerate(FEATURES)}
    batch = {"instances": [row] * 1000}
    results: dict[str, dict[str, float]] = {}
    with ServedModel(ServingConfig(str(model_dir))) as served:
        url = f"{served.url}/predict"
        wrk(url, json.dumps(row), args.connections, 2)  # warm up
        results["mlcheck_1conn"] = wrk(url, json.dumps(row), 1, args.seconds)
        results["mlcheck"] = wrk(url, json.dumps(row), args.connections, args.seconds)
        results["mlcheck_batch1000"] = wrk(url, json.dumps(batch), 2, args.seconds)
    predictor = load_model(str(model_dir))
    columns = {name: [row[name]] * 1000 for name in FEATURES}
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < 3:
        predictor.predict(columns)
        calls += 1
    in_process_rows = calls * 1000 / (time.perf_counter() - started)
    if not args.skip_mlflow:
        port = free_port()
        server = mlflow_models_serve(str(model_dir), port)
        try:
            wait_ready(f"http://127.0.0.1:{port}/ping")
            body = json.dumps({"dataframe_records": [row]})
            url = f"http://127.0.0.1:{port}/invocations"
            wrk(url, body, args.connections, 2)
            results["mlflow"] = wrk(url, body, args.connections, args.seconds)
        finally:
            os.killpg(server.pid, 15)
            server.wait(30)
    import mlflow
    import xgboost

    report = {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {"mlflow": mlflow.__version__, "xgboost": xgboost.__version__},
        "connections": args.connections,
        "seconds": args.seconds,
        "results": results,
        "batch_rows_per_s": results["mlcheck_batch1000"]["rps"] * 1000,
        "in_process_rows_per_s": in_process_rows,
    }
    if "mlflow" in results:
        report["rps_ratio_vs_mlflow"] = results["mlcheck"]["rps"] / results["mlflow"]["rps"]
    report["batch_share_of_in_process"] = report["batch_rows_per_s"] / in_process_rows
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("| server | connections | req/s | p50 ms | p99 ms | errors |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        conns = 1 if name.endswith("1conn") else 2 if "batch" in name else args.connections
        print(
            f"| {name} | {conns} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['errors']} |"
        )
    if "rps_ratio_vs_mlflow" in report:
        print(f"mlcheck / mlflow requests/s: {report['rps_ratio_vs_mlflow']:.1f}x")
    print(
        f"1000-row batches: {report['batch_rows_per_s']:,.0f} rows/s = "
        f"{report['batch_share_of_in_process']:.0%} of in-process predict "
        f"({in_process_rows:,.0f} rows/s)"
    )


if __name__ == "__main__":
    main()
