"""Serving: mlcheck's core against `mlflow models serve` on the same saved model, side by side.

An XGBoost model of 200 trees on 6 numeric features, saved with MLflow, one worker each, on
loopback. wrk (Debian's package) posts one row per request from `connections` connections
for `seconds`, or, where wrk is not installed, a bounded Python client (threads over
keep-alive connections; it spends the cores itself, so its numbers are lower). The section
gives requests/s, p50, p99 and errors of each server and their ratio, plus 1000-row batches
against the in-process predict rate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from mlcheck.bench.report import Section, markdown_table
from mlcheck.models.load import load_model
from mlcheck.probes.http import PredictConnection
from mlcheck.probes.pyfunc import mlflow_models_serve
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.process import ServedModel, free_port
from mlcheck.stats.timing import percentiles_ms

__all__ = ["serving_section"]

FEATURES = [f"x{i}" for i in range(6)]
BATCH_ROWS = 1000
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""
Load = dict[str, float]


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


def wrk(url: str, body: str, connections: int, seconds: int) -> Load:
    """wrk's requests/s, p50 and p99 (ms) and non-2xx/socket errors for one POST body."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=body))
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)

    def number(pattern: str) -> re.Match[str]:
        match = re.search(pattern, out, re.M)
        if match is None:
            raise RuntimeError(f"wrk's output has no {pattern!r}: {out[-500:]}")
        return match

    def ms(label: str) -> float:
        value, unit = number(rf"^\s+{label}\s+([\d.]+)(us|ms|s)").groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(map(int, sockets.groups())) if sockets else 0
    return {
        "rps": float(number(r"Requests/sec:\s+([\d.]+)").group(1)),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "errors": errors,
    }


def python_client(url: str, body: str, connections: int, seconds: int) -> Load:
    """The same measurement without wrk: `connections` threads, each a keep-alive connection
    posting `body` for `seconds`."""
    match = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    if match is None:
        raise ValueError(f"url={url!r} must look like http://127.0.0.1:8000/predict")
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    payload = body.encode()
    timings: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        conn = PredictConnection(host, port, path=path)
        mine, failed = [], 0
        try:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                status = conn.post(payload)
                mine.append(time.perf_counter() - started)
                failed += status != "200"
        finally:
            conn.close()
        with lock:
            timings.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    elapsed = time.monotonic() - started
    stats = percentiles_ms(timings)
    return {
        "rps": len(timings) / elapsed,
        "p50_ms": stats.get("p50_ms", float("nan")),
        "p99_ms": stats.get("p99_ms", float("nan")),
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


def _in_process_rows_per_s(model_dir: Path, row: dict[str, float], seconds: float) -> float:
    predictor = load_model(str(model_dir))
    columns = {name: [row[name]] * BATCH_ROWS for name in FEATURES}
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        predictor.predict(columns)
        calls += 1
    return calls * BATCH_ROWS / (time.perf_counter() - started)


def serving_section(seconds: int = 10, connections: int = 8, mlflow: bool = True) -> Section:
    client = wrk if shutil.which("wrk") else python_client
    folder = Path(tempfile.mkdtemp(prefix="mlcheck-bench-"))
    model_dir = save_model(folder)
    row = {name: 0.1 * i for i, name in enumerate(FEATURES)}
    one, batch = json.dumps(row), json.dumps({"instances": [row] * BATCH_ROWS})
    results: dict[str, Load] = {}
    with ServedModel(ServingConfig(str(model_dir))) as served:
        url = f"{served.url}/predict"
        client(url, one, connections, 2)  # warm up
        results["mlcheck, 1 connection"] = client(url, one, 1, seconds)
        results["mlcheck"] = client(url, one, connections, seconds)
        results["mlcheck, 1000-row batches"] = client(url, batch, 2, seconds)
    capture_config = ServingConfig(str(model_dir), capture_dir=str(folder / "capture"))
    with ServedModel(capture_config) as served:
        url = f"{served.url}/predict"
        client(url, one, connections, 2)
        results["mlcheck --capture"] = client(url, one, connections, seconds)
    in_process = _in_process_rows_per_s(model_dir, row, 3.0)
    if mlflow:
        port = free_port()
        server = mlflow_models_serve(str(model_dir), port)
        try:
            wait_ready(f"http://127.0.0.1:{port}/ping")
            body = json.dumps({"dataframe_records": [row]})
            url = f"http://127.0.0.1:{port}/invocations"
            client(url, body, connections, 2)
            results["mlflow models serve"] = client(url, body, connections, seconds)
        finally:
            os.killpg(server.pid, 15)
            server.wait(30)
    shutil.rmtree(folder, ignore_errors=True)
    batch_rows = results["mlcheck, 1000-row batches"]["rps"] * BATCH_ROWS
    data = {
        "client": client.__name__,
        "connections": connections,
        "seconds": seconds,
        "results": results,
        "batch_rows_per_s": batch_rows,
        "in_process_rows_per_s": in_process,
        "batch_share_of_in_process": batch_rows / in_process,
        "capture_p99_ratio": results["mlcheck --capture"]["p99_ms"] / results["mlcheck"]["p99_ms"],
    }
    if "mlflow models serve" in results:
        data["rps_ratio_vs_mlflow"] = (
            results["mlcheck"]["rps"] / results["mlflow models serve"]["rps"]
        )
    conns = {"mlcheck, 1 connection": 1, "mlcheck, 1000-row batches": 2}
    lines = markdown_table(
        ["server", "connections", "requests/s", "p50 ms", "p99 ms", "errors"],
        [
            (name, conns.get(name, connections), r["rps"], r["p50_ms"], r["p99_ms"], r["errors"])
            for name, r in results.items()
        ],
    )
    lines.append("")
    if "rps_ratio_vs_mlflow" in data:
        lines.append(f"- mlcheck / mlflow requests/s: **{data['rps_ratio_vs_mlflow']:.1f}x**")
    lines.append(
        f"- 1000-row batches: {batch_rows:,.0f} rows/s = "
        f"**{data['batch_share_of_in_process']:.0%}** of the in-process predict "
        f"({in_process:,.0f} rows/s)"
    )
    lines.append(
        f"- --capture (every row to Parquet, off the request path): p99 "
        f"{results['mlcheck --capture']['p99_ms']:.2f} vs {results['mlcheck']['p99_ms']:.2f} ms "
        f"without ({data['capture_p99_ratio']:.2f}x)"
    )
    lines.append(f"- load client: {'wrk' if client is wrk else 'Python threads (no wrk)'}")
    return Section(
        "serving",
        "Serving: one XGBoost model (200 trees, 6 features), mlcheck vs mlflow models serve",
        data,
        lines,
    )
