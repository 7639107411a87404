"""Log a gate run to an MLflow tracking server: parameters, gate values, outcomes, reports.

Every HTTP call is bounded (a health check first, then MLflow's own client with a short
timeout and one retry), so an unreachable server is an InfrastructureError in seconds and the
caller can report "logging failed" with gate.json already written.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mlcheck.errors import ConfigError, InfrastructureError
from mlcheck.models.mlflow_server import bounded_requests, check_reachable
from mlcheck.results import SuiteResult

__all__ = [
    "DEFAULT_EXPERIMENT",
    "check_tracking_server",
    "file_sha256",
    "gate_run_params",
    "log_gate_run",
    "metric_key",
]

DEFAULT_EXPERIMENT = "mlcheck-gates"
#: MLflow's limits per log_batch call
_MAX_METRICS, _MAX_PARAMS, _MAX_TAGS = 1000, 100, 100
_PARAM_VALUE_MAX, _TAG_VALUE_MAX = 6000, 5000


def metric_key(name: str) -> str:
    """A gate name as an MLflow metric/tag key: letters, digits, `_ - . / :` and spaces."""
    key = re.sub(r"[^A-Za-z0-9_\-./: ]+", "_", name).strip("_") or "gate"
    return key[:250]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gate_run_params(
    model: str, data: Mapping[str, Path | None], policy: Path | None, **extra: Any
) -> dict[str, str]:
    """The run's parameters: the model URI, each data file and the policy with its sha256."""
    params = {"model": model}
    for kind, path in data.items():
        if path is None:
            continue
        params[f"data.{kind}"] = str(path)
        if path.is_file():
            params[f"data.{kind}.sha256"] = file_sha256(path)
    params["policy"] = str(policy) if policy is not None else "built-in defaults"
    if policy is not None and policy.is_file():
        params["policy.sha256"] = file_sha256(policy)
    params.update({key: str(value) for key, value in extra.items()})
    return params


def _require_server(tracking_uri: str, timeout_s: float) -> None:
    if not tracking_uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"tracking_uri={tracking_uri!r} must be the http(s) URL of an MLflow server"
        )
    check_reachable(
        tracking_uri,
        timeout_s,
        "gate results were not logged to MLflow",
        fix="the run's own MLflow server stopped (see its log in the report folder's stack/)",
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _records(suite: SuiteResult, params: Mapping[str, Any]) -> tuple[list[Any], ...]:
    from mlflow.entities import Metric, Param, RunTag

    metrics, tags = {}, {}
    for gate in suite.gates:
        key = metric_key(gate.name)
        tags[f"gate.{key}.outcome"] = gate.outcome.value
        if gate.value is not None and math.isfinite(gate.value):
            metrics[key] = float(gate.value)
        if gate.interval is not None:
            metrics[f"{key}.low"], metrics[f"{key}.high"] = map(float, gate.interval)
    tags["mlcheck.verdict"] = suite.verdict.value
    tags["mlcheck.exit_code"] = str(suite.exit_code)
    for outcome, count in suite.to_dict()["counts"].items():
        metrics[f"gates.{outcome.lower()}"] = float(count)
    now = int(time.time() * 1000)
    return (
        [Metric(k, v, now, 0) for k, v in metrics.items() if math.isfinite(v)],
        [Param(metric_key(k), str(v)[:_PARAM_VALUE_MAX]) for k, v in params.items()],
        [RunTag(k, str(v)[:_TAG_VALUE_MAX]) for k, v in tags.items()],
    )


def log_gate_run(
    tracking_uri: str,
    suite: SuiteResult,
    report_dir: Path,
    params: Mapping[str, Any],
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    timeout_s: float = 10.0,
) -> str:
    """Log one gate run to the MLflow server at `tracking_uri`; returns the MLflow run id.

    Parameters are `params`; each gate's value (and interval low/high) is a metric named after
    the gate; `gate.<name>.outcome` tags and `mlcheck.verdict`; `report_dir/*.html`,
    `gate.json` and `summary.md` are artifacts under `reports/` (uploaded through the server).
    """
    _require_server(tracking_uri, min(timeout_s, 5.0))
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from requests.exceptions import RequestException

    metrics, run_params, tags = _records(suite, params)
    artifacts = sorted(report_dir.glob("*.html"))
    artifacts += [p for p in (report_dir / "gate.json", report_dir / "summary.md") if p.is_file()]
    run_id = ""
    try:
        with bounded_requests(timeout_s):
            client = MlflowClient(tracking_uri=tracking_uri)
            found = client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else client.create_experiment(experiment)
            run = client.create_run(
                experiment_id,
                run_name=run_name or str(suite.context.get("run_id") or "") or None,
                tags={"mlcheck.model": str(suite.context.get("model", ""))},
            )
            run_id = run.info.run_id
            for chunk in _chunks(metrics, _MAX_METRICS):
                client.log_batch(run_id, metrics=chunk)
            for chunk in _chunks(run_params, _MAX_PARAMS):
                client.log_batch(run_id, params=chunk)
            for chunk in _chunks(tags, _MAX_TAGS):
                client.log_batch(run_id, tags=chunk)
            for path in artifacts:
                client.log_artifact(run_id, str(path), artifact_path="reports")
            client.set_terminated(run_id, "FINISHED")
    except (MlflowException, RequestException, OSError) as exc:
        where = f" (run {run_id} is incomplete)" if run_id else ""
        raise InfrastructureError(
            f"logging the gate run to MLflow at tracking_uri={tracking_uri!r} failed{where}: "
            f"{type(exc).__name__}: {str(exc)[:500]}"
        ) from exc
    return run_id


def check_tracking_server(tracking_uri: str, timeout_s: float = 10.0) -> int:
    """The number of experiments the server lists: it answers /health and its REST API."""
    _require_server(tracking_uri, min(timeout_s, 5.0))
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from requests.exceptions import RequestException

    try:
        with bounded_requests(timeout_s):
            return len(MlflowClient(tracking_uri=tracking_uri).search_experiments())
    except (MlflowException, RequestException, OSError) as exc:
        raise InfrastructureError(
            f"the MLflow server at tracking_uri={tracking_uri!r} answers /health but not its "
            f"REST API: {type(exc).__name__}: {str(exc)[:500]}"
        ) from exc
