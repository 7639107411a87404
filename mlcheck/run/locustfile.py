"""The load test: a locustfile that posts realistic rows to the serving core and gates on it.

Every load of a gate run uses this file (found through the package); `suites/load.py` is the
same locustfile for `locust -f` in this repository. Standalone:
    locust -f suites/load.py --headless -u 20 -r 10 -t 20s --host http://127.0.0.1:8000
prints each threshold of `[load]` in checks/gates.toml with its measured value and exits 1
when one is missed. Options: --mlcheck-policy PATH, --mlcheck-current PATH (rows to send;
default the demo's current data), --mlcheck-result PATH (write the stats as JSON).
Add --html reports/load.html --csv reports/load for reports, --processes N for N workers,
or --master / --worker --master-host HOST to spread the users over several machines.
"""

from __future__ import annotations

import json
import random
import sys
import urllib.request
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, events, task
from locust.runners import WorkerRunner

from mlcheck.data.io import read_table
from mlcheck.features import features_from_json
from mlcheck.gates.load import load_gates
from mlcheck.models.demo import demo_data_path
from mlcheck.policy import load_policy
from mlcheck.probes.http import records_from_frame
from mlcheck.probes.readings import LoadStats
from mlcheck.serving.codec import accepted_rows

__all__ = ["ModelUser"]

ROWS_KEPT = 5000
STATE: dict[str, Any] = {}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--mlcheck-policy", default="", help="gate policy TOML (default: checks/gates.toml)"
    )
    parser.add_argument(
        "--mlcheck-current", default="", help="rows to send, CSV or Parquet (default: demo)"
    )
    parser.add_argument(
        "--mlcheck-result", default="", help="write the measured stats here as JSON"
    )


def _rows(host: str, current: str) -> list[dict[str, Any]]:
    """JSON records of the model's features from the current data (default: the demo's), those
    the server accepts: a row it refuses is the schema gate's finding, not a load failure."""
    with urllib.request.urlopen(f"{host}/model/info", timeout=30) as response:
        features = features_from_json(json.loads(response.read())["features"])
    frame = read_table(current or demo_data_path("current"), "--mlcheck-current")
    records = records_from_frame(frame.head(ROWS_KEPT), [f.name for f in features])
    return [records[i] for i in accepted_rows(records, features)] or records


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    STATE["policy"] = load_policy(options.mlcheck_policy or None)
    STATE["workers"] = getattr(environment.runner, "worker_count", 0)  # on the master
    STATE["rows"] = _rows(environment.host, options.mlcheck_current)


class ModelUser(FastHttpUser):
    """A client of the model: mostly single rows, sometimes a batch (the policy sets the mix)."""

    wait_time = between(0.005, 0.02)

    @task
    def predict(self) -> None:
        rows, load = STATE["rows"], STATE["policy"].load
        if random.random() < load.batch_share:
            batch = random.sample(rows, min(load.batch_rows, len(rows)))
            self.client.post(
                "/predict", json={"instances": batch}, name=f"/predict [{len(batch)} rows]"
            )
        else:
            self.client.post("/predict", json=random.choice(rows), name="/predict [1 row]")


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or "policy" not in STATE:
        return
    total = environment.stats.total
    options = environment.parsed_options
    stats = LoadStats(
        requests=total.num_requests,
        failures=total.num_failures,
        p50_ms=float(total.get_response_time_percentile(0.5) or 0),
        p95_ms=float(total.get_response_time_percentile(0.95) or 0),
        p99_ms=float(total.get_response_time_percentile(0.99) or 0),
        rps=float(total.total_rps),
        users=options.num_users or 0,
        workers=STATE.get("workers", 0),
    )
    if options.mlcheck_result:
        Path(options.mlcheck_result).write_text(stats.to_json())
    gates = load_gates(stats, STATE["policy"].load)
    print("mlcheck load thresholds:", file=sys.stderr)
    for gate in gates:
        print(f"  {gate.message}", file=sys.stderr)
    if any(not g.passed for g in gates):
        environment.process_exit_code = 1
