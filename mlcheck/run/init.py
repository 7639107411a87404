"""`mlcheck init`: seed a repository with a policy measured on the user's own model and data.

It writes three files, for binary and multiclass classifiers and regressors alike:

- `checks/gates.toml` (or `--policy PATH`): each quality threshold is the pessimistic end of
  the metric's interval on the reference data (the interval the gate itself computes),
  loosened by the interval's half-width and a margin, so that the first run passes and a real
  regression fails; slice gates over the low-cardinality categorical columns; latency and load
  thresholds from the model's own timings on this machine, with headroom; data-quality limits
  that the reference itself meets;
- `checks/schema.yaml`: the input schema inferred from the reference data;
- `.github/workflows/mlcheck.yml`: a plain workflow that installs mlcheck with pip (the same
  requirement as the one installed here, see `requirement`) and runs `mlcheck gate`.

A file that exists is kept (and reported) unless `force` is given; the missing ones are written.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from mlcheck.data.io import read_table
from mlcheck.data.labels import task_labels
from mlcheck.errors import ConfigError, DataError
from mlcheck.gates.quality import slice_gates
from mlcheck.models.demo import DEMO, demo_model_or
from mlcheck.models.load import Predictor, load_model
from mlcheck.policy import (
    DEFAULT_SLICE_METRIC,
    MLFLOW_IMAGE_ENV,
    PROMETHEUS_IMAGE_ENV,
    DataQualityPolicy,
    LatencyPolicy,
    LoadPolicy,
    QualityPolicy,
    SlicePolicy,
)
from mlcheck.probes.http import records_from_frame
from mlcheck.results import Outcome
from mlcheck.schema import infer_schema, save_schema
from mlcheck.stats.metrics import (
    COLLAPSED,
    METRICS,
    MetricEstimate,
    metric_intervals,
    paired_difference,
)
from mlcheck.stats.timing import percentiles_ms

__all__ = [
    "MARGIN_RANGE",
    "POLICY_FILE",
    "SCHEMA_FILE",
    "TASK_METRICS",
    "WORKFLOW_FILE",
    "Seeded",
    "Timings",
    "init_repository",
    "next_command",
    "requirement",
]

#: The written files, relative to the repository root. `mlcheck gate` reads the policy from
#: `checks/gates.toml` by default; the policy names its schema relative to its own folder.
POLICY_FILE = Path("checks") / "gates.toml"
SCHEMA_FILE = Path("checks") / "schema.yaml"
WORKFLOW_FILE = Path(".github") / "workflows" / "mlcheck.yml"

#: Allowed values of `margin`: beyond half the metric's range a threshold no longer guards.
MARGIN_RANGE = (0.0, 0.5)

#: The metrics init gates each task on: (higher is better, lower is better).
TASK_METRICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "binary": (("accuracy", "roc_auc", "recall"), ("log_loss", "calibration_error")),
    "multiclass": (("accuracy", "f1_macro", "recall_min"), ("log_loss",)),
    "regression": (("r2",), ("rmse", "mae")),
}
#: The metric slices are compared on: AUC and accuracy are comparable across slices; a
#: regressor's R² is not (a slice's target varies less than the whole), its MAE is.
SLICE_METRIC = {**DEFAULT_SLICE_METRIC, "regression": "mae"}
#: Metrics in the target's units: the margin is a share of the measured value for them.
_IN_TARGET_UNITS = frozenset({"mae", "rmse"})

_RESAMPLES = 1000
_CONFIDENCE = 0.95
_SEED = 0
_DECISION_THRESHOLD = 0.5
_MIN_ROWS = QualityPolicy().min_rows
_MAX_SLICE_COLUMNS = 5
_MAX_CATEGORIES = 20
_MIN_SLICE_GAP = 0.08
_PLACES = 4

#: Timing thresholds are this many times what was measured here (a shared CI runner is
#: slower and noisier than a workstation) ...
HEADROOM = 10.0
#: ... and never below the built-in defaults, which fit a fast (XGBoost) model.
_LATENCY = LatencyPolicy()
_LOAD = LoadPolicy()
#: Under load, `users` requests wait on one serving process: a request's latency is about
#: users x the mean service time when it is saturated; the load thresholds allow this much more.
LOAD_HEADROOM = 3.0
#: How long each timing may take (seconds) and how many calls it makes at most.
_SINGLE_BUDGET = (1.5, 200)
_BATCH_BUDGET = (3.0, 30)
_SERVED_BUDGET = (2.0, 100)
_WARMUP = 3

#: mlcheck's extras the workflow installs: locust for the load gate, testcontainers for the
#: Prometheus and MLflow containers of the stack gates, Evidently for drift.html (the model's own
#: packages, xgboost or lightgbm among them, come from the requirements the workflow installs).
_EXTRAS = "load,stack,evidently"
#: The official images a GitHub runner pulls for `--stack containers` (action.yml's defaults).
_RUNNER_IMAGES = {
    PROMETHEUS_IMAGE_ENV: "prom/prometheus:v2.53.4",
    MLFLOW_IMAGE_ENV: "ghcr.io/mlflow/mlflow:v3.17.2",
}


@dataclass(frozen=True)
class Timings:
    """The model's timings measured by init (p95 and p99 in ms); `served_*` through the
    serving core in process (None when it could not serve: then `note` says why)."""

    rows: int
    single_p95_ms: float
    batch_p95_ms: float
    batch_rows: int
    served_single_p95_ms: float | None = None
    served_single_p99_ms: float | None = None
    served_batch_p95_ms: float | None = None
    served_batch_rows: int = _LOAD.batch_rows
    note: str = ""

    @property
    def service_ms(self) -> float:
        """The mean time a load request takes the server: the load's mix of single rows and
        batches, each at its served p95 (in-process p95 when it could not be served)."""
        single = self.served_single_p95_ms or self.single_p95_ms
        batch = self.served_batch_p95_ms or self.single_p95_ms * self.served_batch_rows
        share = _LOAD.batch_share
        return (1 - share) * single + share * batch


@dataclass(frozen=True)
class Seeded:
    """What init did: the files written, the ones kept (they existed), the task and timings."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    task: str | None = None
    timings: Timings | None = None


@dataclass(frozen=True)
class _Slices:
    """The slice section: the columns kept, the smallest judged slice and the allowed gap."""

    columns: tuple[str, ...]
    metric: str
    min_size: int
    max_gap: float
    worst_gap: float


@dataclass(frozen=True)
class _Measured:
    """Everything the policy is written from."""

    source: str
    rows: int
    target: str
    task: str
    estimates: dict[str, MetricEstimate]
    left_out: dict[str, str]
    baseline: MetricEstimate | None
    slices: _Slices | None
    missing_rate: float
    duplicate_rate: float
    timings: Timings
    margin: float


def init_repository(
    model: str,
    reference: Path,
    target: str,
    directory: Path = Path("."),
    current: Path | None = None,
    margin: float = 0.02,
    policy: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Seeded:
    """Write the policy, schema and workflow under `directory`; return what was written.

    `model` is a model URI (or `demo`), `reference` labelled data the model is known to be good
    on, `target` its label column, `current` the data the workflow gates (default: the
    reference; it is timed on when given). `policy` writes the policy elsewhere than
    `directory/checks/gates.toml` (it names the schema relative to its own folder). An existing
    file is kept and listed in `Seeded.kept` unless `force`. Raises `ConfigError` for a bad
    margin; errors loading the model or the data propagate, before anything is written.
    """
    if not (MARGIN_RANGE[0] <= margin <= MARGIN_RANGE[1]):
        raise ConfigError(
            f"--margin={margin!r} is out of range; allowed: [{MARGIN_RANGE[0]}, "
            f"{MARGIN_RANGE[1]}] (how far below the measured metrics the thresholds go)"
        )
    say = progress or (lambda _: None)
    directory = Path(directory)
    policy_path = Path(policy) if policy is not None else directory / POLICY_FILE
    schema_path, workflow_path = directory / SCHEMA_FILE, directory / WORKFLOW_FILE
    targets = [policy_path, schema_path, workflow_path]
    kept = [] if force else [p for p in targets if p.exists() or p.is_symlink()]
    if kept == targets:
        return Seeded(kept=kept)

    predictor = load_model(demo_model_or(model))
    frame = read_table(reference, "--reference")
    timed = frame if current is None else read_table(current, "--current")
    schema = infer_schema(frame, target)
    measured = None
    if policy_path not in kept:
        say(f"measuring {model} on {Path(reference).name} ({len(frame):,} rows)")
        measured = _measure(predictor, frame, Path(reference), target, margin)
        say("timing predict in process and through the serving core")
        measured = replace(measured, timings=_time_model(predictor, timed, target, schema))

    written = []
    if schema_path not in kept:
        save_schema(schema, schema_path)
        written.append(schema_path)
    if measured is not None:
        schema_file = Path(os.path.relpath(schema_path, policy_path.parent)).as_posix()
        policy_path.parent.mkdir(parents=True, exist_ok=True)
        policy_path.write_text(_policy_text(measured, schema_file), encoding="utf-8")
        written.append(policy_path)
    if workflow_path not in kept:
        text = _workflow_text(directory, model, Path(reference), current, target, policy_path)
        workflow_path.parent.mkdir(parents=True, exist_ok=True)
        workflow_path.write_text(text, encoding="utf-8")
        written.append(workflow_path)
    order = {p: i for i, p in enumerate(targets)}
    return Seeded(
        sorted(written, key=order.__getitem__),
        kept,
        predictor.task,
        measured.timings if measured is not None else None,
    )


def next_command(
    model: str, reference: str | Path, current: str | Path | None, policy: Path | None = None
) -> str:
    """The `mlcheck gate` command to run after init (`current` defaults to the reference).

    `policy` is added as `--policy` when given: needed when the command does not run from
    the folder holding `checks/gates.toml`.
    """
    parts = ["mlcheck", "gate", "--current", str(current if current is not None else reference)]
    parts += ["--reference", str(reference), "--model", model]
    if policy is not None:
        parts += ["--policy", str(policy)]
    return shlex.join(parts)


# ---------------------------------------------------------------------------- quality


def _measure(
    predictor: Predictor,
    frame: pd.DataFrame,
    reference: Path,
    target: str,
    margin: float,
) -> _Measured:
    """The quality metrics of the model's task on the reference, with their intervals."""
    features = frame.drop(columns=[target], errors="ignore")
    scores = predictor.scores(features, f"--reference={str(reference)!r}")
    task = predictor.task
    assert task is not None  # set once scored
    count = scores.shape[1] if scores.ndim == 2 else 0
    labels = task_labels(frame, target, task, predictor.classes, "reference data", count)
    if len(labels) < _MIN_ROWS:
        raise DataError(
            f"--reference={str(reference)!r} has {len(labels)} rows; the quality gates need "
            f"at least {_MIN_ROWS} labelled rows to decide, so measure on more"
        )
    higher, lower = TASK_METRICS[task]
    estimates = metric_intervals(
        labels,
        scores,
        [*higher, *lower],
        threshold=_DECISION_THRESHOLD,
        resamples=_RESAMPLES,
        confidence=_CONFIDENCE,
        seed=_SEED,
        task=task,
    )
    undefined = [name for name, e in estimates.items() if not math.isfinite(e.value)]
    if undefined:
        raise DataError(
            f"--reference={str(reference)!r}: {', '.join(undefined)} cannot be measured on "
            f"it (a single class, or a constant {target!r}?); measure on rows with every label"
        )
    left_out = {
        name: f"its interval collapsed to {e.value:.4g} on the reference (a perfect model?)"
        for name, e in estimates.items()
        if e.method == COLLAPSED
    }
    if len(left_out) == len(estimates):
        raise DataError(
            f"--reference={str(reference)!r}: every metric's interval collapsed to one value "
            "(a perfect or constant model, or a label leak?); no gate could decide on it"
        )
    baseline = None
    if task == "regression":
        baseline = paired_difference(
            labels,
            np.full(len(labels), float(np.mean(labels))),
            scores,
            ["rmse"],
            resamples=_RESAMPLES,
            confidence=_CONFIDENCE,
            seed=_SEED,
            task=task,
        )["rmse"]
    rows = len(frame)
    return _Measured(
        source=_one_line(Path(reference).name),
        rows=rows,
        target=target,
        task=task,
        estimates={k: v for k, v in estimates.items() if k not in left_out},
        left_out=left_out,
        baseline=baseline,
        slices=_measure_slices(frame, target, labels, scores, task, margin),
        missing_rate=float(frame.isna().mean().max()) if len(frame.columns) else 0.0,
        duplicate_rate=float(frame.duplicated().mean()),
        timings=Timings(rows, 0.0, 0.0, 0),  # replaced once timed
        margin=margin,
    )


def _slice_columns(frame: pd.DataFrame, target: str) -> list[str]:
    """Non-numeric columns (booleans count as categories) with 2 to 20 values, in file order."""
    out = []
    for name in frame.columns:
        series = frame[name]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if name == target or numeric:
            continue
        if 2 <= series.nunique(dropna=True) <= _MAX_CATEGORIES:
            out.append(str(name))
        if len(out) == _MAX_SLICE_COLUMNS:
            break
    return out


def _measure_slices(
    frame: pd.DataFrame,
    target: str,
    labels: np.ndarray,
    scores: np.ndarray,
    task: str,
    margin: float,
) -> _Slices | None:
    """The slice section, or None when no column can be sliced.

    A column whose slices cannot be judged on the reference (no slice of `min_size` rows, or
    a slice whose metric is undefined) is left out: its gate would not decide on similar data.
    The allowed gap is in the metric's units; for MAE (a regressor's) it scales with the
    overall MAE, so the same rule holds in any target unit.
    """
    columns = _slice_columns(frame, target)
    if not columns:
        return None
    metric = SLICE_METRIC[task]
    min_size = max(30, len(frame) // 50)
    rules = SlicePolicy(columns=tuple(columns), metric=metric, min_size=min_size)
    policy = QualityPolicy(decision_threshold=_DECISION_THRESHOLD, slices=rules)
    kept, gaps, scale = [], [], 1.0
    for column, gate in zip(columns, slice_gates(frame, labels, scores, policy, task), strict=True):
        if gate.outcome is Outcome.ERROR or gate.value is None or not math.isfinite(gate.value):
            continue
        kept.append(column)
        gaps.append(gate.value)
        if metric in _IN_TARGET_UNITS:
            scale = max(float(gate.details["overall"]), 1e-12)
    if not kept:
        return None
    worst = max(gaps)
    max_gap = _ceil(scale * max(_MIN_SLICE_GAP, worst / scale + margin))
    if max_gap > METRICS[metric].upper:
        return None
    return _Slices(tuple(kept), metric, min_size, max_gap, worst)


def _floor(value: float) -> float:
    return math.floor(value * 10**_PLACES) / 10**_PLACES


def _ceil(value: float) -> float:
    return math.ceil(value * 10**_PLACES) / 10**_PLACES


def _threshold(estimate: MetricEstimate, margin: float) -> float:
    """The pessimistic bound loosened by the interval's half-width and `margin`, rounded the
    safe way, within the range; for a metric in the target's units `margin` is a share of
    the measured value.

    The gate decides on the current data's own pessimistic bound, about a half-width past its
    value; loosening by one more half-width lets a fresh sample of the same size anywhere in
    the reference's interval pass, and `margin` is the regression that is tolerated on top.
    """
    spec = METRICS[estimate.name]
    bound = estimate.pessimistic(spec.higher_is_better)
    half_width = (estimate.high - estimate.low) / 2
    slack = margin * abs(estimate.value) if estimate.name in _IN_TARGET_UNITS else margin
    if spec.higher_is_better:
        return max(spec.lower, _floor(bound - half_width - slack))
    return min(spec.upper, _ceil(bound + half_width + slack))


# ---------------------------------------------------------------------------- timings


def _timed(call: Callable[[], Any], budget: tuple[float, int]) -> list[float]:
    """Seconds each call took: a few warm-up calls, then up to `budget` (seconds, calls)."""
    for _ in range(_WARMUP):
        call()
    seconds, calls = budget
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(out) < calls and (len(out) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def _feature_names(predictor: Predictor, frame: pd.DataFrame, target: str) -> list[str]:
    names = predictor.info.feature_names
    return list(names) if names else [str(c) for c in frame.columns if c != target]


def _time_model(predictor: Predictor, frame: pd.DataFrame, target: str, schema: Any) -> Timings:
    """Predict p95 of one row and of a batch in process, as the latency gate times them
    (feature columns of the first rows), and through the serving core when it can serve."""
    names = _feature_names(predictor, frame, target)
    batch_rows = min(_LATENCY.batch_rows, len(frame))

    def columns(rows: int) -> dict[str, list[Any]]:
        head = frame.head(rows)
        return {name: head[name].tolist() for name in names}

    one, batch = columns(1), columns(batch_rows)
    single = percentiles_ms(_timed(lambda: predictor.predict(one), _SINGLE_BUDGET))
    many = percentiles_ms(_timed(lambda: predictor.predict(batch), _BATCH_BUDGET))
    timings = Timings(len(frame), single["p95_ms"], many["p95_ms"], batch_rows)
    try:
        served = _time_served(predictor, frame, names, target, schema)
    except Exception as exc:  # the timings only guide the thresholds: fall back, and say so
        reason = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
        return replace(timings, note=f"not served in process ({reason})")
    return replace(timings, **served)


def _time_served(
    predictor: Predictor, frame: pd.DataFrame, names: list[str], target: str, schema: Any
) -> dict[str, Any]:
    """p95 (and p99) of POST /predict through the serving core's app in process (decode,
    validate, predict, encode; no socket): one row, and a load batch of rows."""
    with warnings.catch_warnings():  # Starlette asks for httpx2; httpx still works
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from mlcheck.serving.app import create_app
    from mlcheck.serving.config import ServingConfig

    records = records_from_frame(frame.head(max(100, _LOAD.batch_rows)), names)
    batch_rows = min(_LOAD.batch_rows, len(records))
    with tempfile.TemporaryDirectory(prefix="mlcheck-init-") as folder:
        schema_file = save_schema(schema, Path(folder) / "schema.yaml")
        config = ServingConfig(
            model=predictor.info.path or predictor.info.uri,
            schema=str(schema_file),
            target=target,
            decision_threshold=_DECISION_THRESHOLD,
        )
        app = create_app(predictor, config)
        with TestClient(app) as client:
            counter = iter(range(10**9))

            def post(rows: list[dict[str, Any]]) -> None:
                answer = client.post("/predict", json={"instances": rows})
                if answer.status_code != 200:
                    raise DataError(f"/predict answered {answer.status_code}: {answer.text[:200]}")

            single = percentiles_ms(
                _timed(lambda: post([records[next(counter) % len(records)]]), _SERVED_BUDGET)
            )
            many = percentiles_ms(
                _timed(lambda: post(records[:batch_rows]), (_SERVED_BUDGET[0], 30))
            )
    return {
        "served_single_p95_ms": single["p95_ms"],
        "served_single_p99_ms": single["p99_ms"],
        "served_batch_p95_ms": many["p95_ms"],
        "served_batch_rows": batch_rows,
    }


def _limit(measured: float, headroom: float, floor: float) -> float:
    """`headroom` x `measured`, rounded up to 2 significant digits, at least `floor`."""
    value = measured * headroom
    if value <= floor:
        return floor
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return float(math.ceil(value / step) * step)


def _latency_limits(t: Timings) -> dict[str, dict[str, float]]:
    """The [latency], [load] and [stack] thresholds chosen from the timings."""
    served_p95 = t.served_single_p95_ms or t.single_p95_ms
    served_p99 = t.served_single_p99_ms or t.single_p95_ms
    # saturated, a request waits for those of the other connections (users) first
    connections = _LATENCY.http_concurrency
    queued = _LOAD.users * t.service_ms
    load_p95 = _limit(queued, LOAD_HEADROOM, _LOAD.p95_ms)
    capacity = 1000.0 / max(t.service_ms, 1e-6)  # requests per second of one process
    return {
        "latency": {
            "single_p95_ms": _limit(t.single_p95_ms, HEADROOM, _LATENCY.single_p95_ms),
            "batch_p95_ms": _limit(t.batch_p95_ms, HEADROOM, _LATENCY.batch_p95_ms),
            "http_p95_ms": _limit(connections * served_p95, LOAD_HEADROOM, _LATENCY.http_p95_ms),
            "http_p99_ms": _limit(
                connections * served_p99, 2 * LOAD_HEADROOM, _LATENCY.http_p99_ms
            ),
        },
        "load": {
            "p95_ms": load_p95,
            "p99_ms": _limit(queued, 2 * LOAD_HEADROOM, _LOAD.p99_ms),
            "min_rps": min(_LOAD.min_rps, math.floor(capacity / 4 * 10) / 10),
        },
        "stack": {"p95_ms": load_p95},
    }


# ---------------------------------------------------------------------------- the policy


def _number(value: float) -> str:
    return f"{value:.{_PLACES}f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g} ms"


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _one_line(value: str) -> str:
    """Text fit for a comment: no line breaks or other control characters."""
    return "".join(c if c.isprintable() else " " for c in value)


def _metric_lines(m: _Measured, names: Sequence[str]) -> list[str]:
    lines = []
    for name in names:
        if name in m.left_out:
            lines.append(f"# {name} left out: {m.left_out[name]}")
            continue
        e = m.estimates[name]
        lines.append(
            f"# measured on {m.source}: {_number(e.value)} [{_number(e.low)}, {_number(e.high)}]"
            + (f" ({e.method})" if e.method != "bootstrap" else "")
        )
        lines.append(f"{name} = {_number(_threshold(e, m.margin))}")
    return lines


def _quality_lines(m: _Measured) -> list[str]:
    level = f"{_CONFIDENCE:.0%}"
    higher, lower = TASK_METRICS[m.task]
    units = [n for n in lower if n in _IN_TARGET_UNITS]
    lines = _comment(
        f"Each quality threshold is the pessimistic end of the metric's {level} interval on "
        f"{m.source} ({m.rows:,} rows), loosened by the interval's half-width and by a margin "
        f"of {m.margin:g}, so that the first run passes on a fresh sample of as many rows and a "
        "real regression fails. The gate decides on the current data's own interval. Tighten "
        "the thresholds to what your model must reach (mlcheck init --margin sets the margin)."
        + (
            f" {', '.join(units)} are in the target's units: their margin is {m.margin:g} x "
            "the measured value."
            if units
            else ""
        )
    )
    lines += [
        "",
        "[quality]",
        *([f"decision_threshold = {_DECISION_THRESHOLD}"] if m.task == "binary" else []),
        f"bootstrap_resamples = {_RESAMPLES}",
        f"confidence = {_CONFIDENCE}",
        f"seed = {_SEED}",
        f"min_rows = {_MIN_ROWS}",
    ]
    if m.baseline is not None:
        beats = m.baseline.high < 0
        lines += [
            "# block a model whose RMSE is not below predicting the reference's mean target;",
            f"# measured on {m.source}: RMSE - RMSE(mean) = {m.baseline.value:.6g} "
            f"[{m.baseline.low:.6g}, {m.baseline.high:.6g}]"
            + ("" if beats else ": not below, so the gate is off"),
            f"baseline = {'true' if beats else 'false'}",
        ]
    lines += [
        "",
        "# higher is better: the interval's low end must reach these",
        f"# (measured low end - half-width - {m.margin:g})",
        "[quality.min]",
        *_metric_lines(m, higher),
        "",
        "# lower is better: the interval's high end must stay under these",
        f"# (measured high end + half-width + {m.margin:g})",
        "[quality.max]",
        *_metric_lines(m, lower),
        "",
    ]
    slices = m.slices
    if slices is None:
        lines += [
            "# no categorical column with 2 to 20 values that can be sliced on the reference",
            "[quality.slices]",
            "enabled = false",
        ]
    else:
        columns = ", ".join(_toml_string(c) for c in slices.columns)
        rule = (
            f"max(0.08, worst gap + {m.margin:g})"
            if slices.metric not in _IN_TARGET_UNITS
            else f"overall {slices.metric} x max(0.08, worst gap / overall + {m.margin:g})"
        )
        lines += [
            "# no category may trail the overall metric by more than max_gap",
            "[quality.slices]",
            f"columns = [{columns}]",
            f"metric = {_toml_string(slices.metric)}",
            "# smaller categories are listed but not judged (max(30, rows / 50))",
            f"min_size = {slices.min_size}",
            f"# worst gap measured on {m.source}: {_number(slices.worst_gap)}; {rule}",
            f"max_gap = {_number(slices.max_gap)}",
        ]
    return lines


def _rate_limit(measured: float, default: float) -> tuple[float, str]:
    """A data-quality rate limit the reference meets: the default, or the measured rate
    plus 0.05 (rounded up to hundredths) when the reference already exceeds it."""
    if measured <= default:
        return default, f"the reference's: {measured:.4f}"
    return min(1.0, math.ceil((measured + 0.05) * 100) / 100), (
        f"the reference's {measured:.4f} exceeds the default {default:g}: it + 0.05"
    )


def _data_quality_lines(m: _Measured) -> list[str]:
    defaults = DataQualityPolicy()
    missing, why_missing = _rate_limit(m.missing_rate, defaults.max_missing_rate)
    duplicates, why_duplicates = _rate_limit(m.duplicate_rate, defaults.max_duplicate_rate)
    return [
        "[data_quality]  # on the current data",
        f"# worst missing rate of a column: {why_missing}",
        f"max_missing_rate = {missing:g}",
        f"# duplicate rows: {why_duplicates}",
        f"max_duplicate_rate = {duplicates:g}",
    ]


def _machine() -> str:
    cpus = os.cpu_count() or 0
    return (
        f"{platform.system()} {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"
    )


def _latency_lines(m: _Measured) -> list[str]:
    t = m.timings
    limits = _latency_limits(t)
    served = (
        f"Through the serving core in process (decode, validate, predict, encode; no socket): "
        f"one row p95 {_ms(t.served_single_p95_ms)} (p99 {_ms(t.served_single_p99_ms)}), "
        f"{t.served_batch_rows} rows p95 {_ms(t.served_batch_p95_ms)}."
        if not t.note
        else f"The serving core was not timed ({t.note}); in-process timings stand in."
    )
    return [
        *_comment(
            f"Latency and load thresholds, measured by `mlcheck init` on this machine "
            f"({_machine()}) on the first rows of the {t.rows:,}-row data: predict of one row "
            f"p95 {_ms(t.single_p95_ms)}, of {t.batch_rows} rows p95 {_ms(t.batch_p95_ms)}.",
            served,
            f"Headroom: the in-process thresholds are {HEADROOM:g}x the measured p95, as a "
            "shared CI runner is slower and noisier. Over HTTP "
            f"{_LATENCY.http_concurrency} connections, and under load {_LOAD.users} users, "
            "share one serving process, so a request waits for the others: the http p95 (p99) "
            f"allows {LOAD_HEADROOM:g}x ({2 * LOAD_HEADROOM:g}x) connections x the served p95 "
            f"(p99), the load p95 (p99) {LOAD_HEADROOM:g}x ({2 * LOAD_HEADROOM:g}x) users x the "
            f"mean service time of the load's mix ({t.service_ms:.3g} ms), and min_rps is a "
            "quarter of one process's capacity. No threshold is tighter than mlcheck's default "
            "(which fits a fast XGBoost model), and min_rps no higher. Run "
            "`mlcheck init --force` on the CI machine to measure there, or tighten them to your "
            "service's targets.",
        ),
        "[latency]",
        *(f"{k} = {v:g}" for k, v in limits["latency"].items()),
        f"batch_rows = {_LATENCY.batch_rows}",
        "",
        "[load]",
        *(f"{k} = {v:g}" for k, v in limits["load"].items()),
        "",
        "[stack]  # p95 from Prometheus' histogram after the load",
        *(f"{k} = {v:g}" for k, v in limits["stack"].items()),
    ]


def _comment(*paragraphs: str, width: int = 92) -> list[str]:
    """Paragraphs as TOML/YAML comment lines of at most `width` characters of text."""
    return [f"# {line}" for text in paragraphs for line in textwrap.wrap(_one_line(text), width)]


def _policy_text(m: _Measured, schema_file: str) -> str:
    lines = [
        f"# mlcheck gate policy for a {m.task} model, measured on your model by `mlcheck init`.",
        "# Every key is checked when the policy loads; see the mlcheck README for all of them.",
        "",
        "[data]",
        f"target = {_toml_string(m.target)}",
        f'task = "{m.task}"',
        "",
        *_quality_lines(m),
        "",
        *_data_quality_lines(m),
        "",
        *_latency_lines(m),
        "",
        "[schema]",
        "# inferred from the reference by `mlcheck init`; relative to this file; edit it freely",
        f"file = {_toml_string(schema_file)}",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the workflow


def requirement(directory: Path) -> tuple[str, str]:
    """The pip requirement of the mlcheck installed here, for the workflow, and why.

    The rule: installed from a VCS, the same commit (`mlcheck @ git+URL@COMMIT`); from a URL
    (an archive), that URL; from a local folder inside the repository, that folder relative
    to the root; from a git checkout elsewhere, its origin at the commit checked out;
    otherwise (a release, or a path the runner does not have) the same version from the
    package index (`mlcheck==VERSION`).
    """
    try:
        dist = importlib.metadata.distribution("mlcheck")
    except importlib.metadata.PackageNotFoundError:
        from mlcheck import __version__

        return f"mlcheck[{_EXTRAS}]=={__version__}", "the version running mlcheck init"
    pinned = f"mlcheck[{_EXTRAS}]=={dist.version}"
    try:
        info = json.loads(dist.read_text("direct_url.json") or "null")
    except ValueError:
        info = None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str):
        return pinned, "the version installed where mlcheck init ran"
    url, vcs = info["url"], info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        return (
            f"mlcheck[{_EXTRAS}] @ {vcs['vcs']}+{url}@{vcs['commit_id']}",
            f"the {vcs['vcs']} commit installed where mlcheck init ran",
        )
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return f"mlcheck[{_EXTRAS}] @ {url}", "the archive installed where mlcheck init ran"
    if parsed.scheme == "file":
        local = Path(unquote(parsed.path))
        if _inside(local, directory):
            inside = _shown(local, directory)
            return (
                f"{'.' if inside == '.' else './' + inside}[{_EXTRAS}]",
                "the folder of this repository it was installed from",
            )
        checkout = _git_checkout(local)
        if checkout is not None:
            remote, commit = checkout
            return f"mlcheck[{_EXTRAS}] @ git+{remote}@{commit}", (
                f"installed here from the git checkout {local}: its remote origin at the "
                "commit checked out"
            )
        return pinned, (
            f"installed here from {local}, a path the runner does not have (no git remote): "
            "the same version from the package index; point it at your copy of mlcheck if "
            "the index has no such release"
        )
    return pinned, "the version installed where mlcheck init ran"


def _git_checkout(folder: Path) -> tuple[str, str] | None:
    """(remote origin URL, commit) of a git checkout whose origin a runner can fetch (https
    or ssh), else None."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        remote, commit = git("remote", "get-url", "origin"), git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    if not commit or not remote.startswith(("https://", "ssh://", "git@")):
        return None
    if remote.startswith("git@"):  # scp-like syntax: pip takes ssh:// URLs only
        remote = "ssh://" + remote.replace(":", "/", 1)
    return remote, commit


def _shown(path: Path, directory: Path) -> str:
    """`path` relative to the repository root when it lies inside it, else as given."""
    try:
        return Path(path).resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        return str(path)


def _inside(path: Path, directory: Path) -> bool:
    return Path(path).resolve().is_relative_to(directory.resolve())


def _model_shown(model: str, directory: Path) -> str:
    """A local model directory relative to the root; a URI (or `demo`) as given."""
    if model == DEMO or ":/" in model or not Path(model).exists():
        return model
    return _shown(Path(model), directory)


def _yaml_string(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string escapes are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _requirements_file(directory: Path, model: str) -> str | None:
    """The repository's requirements.txt, else the local model's own (MLflow writes one)
    when the model lies inside the repository; as a path from the root."""
    if (directory / "requirements.txt").is_file():
        return "requirements.txt"
    shown = _model_shown(model, directory)
    local = shown != DEMO and ":/" not in shown and not Path(shown).is_absolute()
    if local and (directory / shown / "requirements.txt").is_file():
        return f"{shown}/requirements.txt"
    return None


def _workflow_text(
    directory: Path,
    model: str,
    reference: Path,
    current: Path | None,
    target: str,
    policy: Path,
) -> str:
    reference_shown = _shown(reference, directory)
    current_shown = reference_shown if current is None else _shown(current, directory)
    package, why = requirement(directory)
    requirements = _requirements_file(directory, model)
    install = ["python -m pip install --upgrade pip"]
    if requirements is None:
        install.append(f"python -m pip install {shlex.quote(package)}")
        requirements_note = [
            "      # No requirements.txt was found: add the libraries your model needs (e.g.",
            "      # scikit-learn, xgboost) to one and install it here with -r.",
        ]
    else:
        install.append(
            f"python -m pip install {shlex.quote(package)} -r {shlex.quote(requirements)}"
        )
        requirements_note = [f"      # {requirements}: the libraries the model needs."]
    env = {
        "MLCHECK_MODEL": _model_shown(model, directory),
        "MLCHECK_REFERENCE": reference_shown,
        "MLCHECK_CURRENT": current_shown,
        "MLCHECK_TARGET": target,
        "MLCHECK_POLICY": _shown(policy, directory),
        **_RUNNER_IMAGES,
    }
    env_lines = [f"      {k}: {_yaml_string(v)}" for k, v in env.items()]
    paths = {"MLCHECK_REFERENCE": reference, "MLCHECK_CURRENT": current or reference}
    paths["MLCHECK_POLICY"] = policy
    if model != DEMO and ":/" not in model and Path(model).exists():
        paths["MLCHECK_MODEL"] = Path(model)
    for name, path in paths.items():
        if _inside(path, directory):
            continue
        at = next(i for i, line in enumerate(env_lines) if f" {name}:" in line)
        env_lines[at:at] = [
            "      # outside the repository: the runner has it only once you put it there",
            "      # (commit it, or fetch it in a step) and give its path from the root",
        ]
    if current is None:
        at = next(i for i, line in enumerate(env_lines) if "MLCHECK_CURRENT" in line)
        env_lines.insert(at, "      # the reference for now: point it at the newly labelled rows")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return "\n".join(
        [
            f"# The mlcheck quality gate: a change whose model misses {env['MLCHECK_POLICY']}",
            "# fails this workflow. Written by `mlcheck init`; edit it freely.",
            "name: mlcheck",
            "",
            "on:",
            "  pull_request:",
            "  push:",
            "    branches: [main]",
            "",
            "permissions:",
            "  contents: read",
            "",
            "jobs:",
            "  gate:",
            "    runs-on: ubuntu-24.04",
            "    timeout-minutes: 45",
            "    env:",
            *env_lines,
            "    steps:",
            "      - uses: actions/checkout@v5",
            "      - uses: actions/setup-python@v6",
            "        with:",
            f'          python-version: "{python}"',
            *(f"      {line}" for line in _comment(f"mlcheck: {why}.", width=84)),
            *requirements_note,
            "      - name: Install mlcheck",
            "        run: |",
            *(f"          {line}" for line in install),
            "      # Exit code 0 pass, 1 a gate failed, 2 the gate could not decide: both block.",
            "      - name: Run the gate",
            "        run: |",
            '          mlcheck gate --model "$MLCHECK_MODEL" --reference "$MLCHECK_REFERENCE" \\',
            '            --current "$MLCHECK_CURRENT" --target "$MLCHECK_TARGET" \\',
            '            --policy "$MLCHECK_POLICY" --stack containers --report-dir reports',
            "      - name: Upload the reports",
            "        if: always()",
            "        uses: actions/upload-artifact@v6",
            "        with:",
            "          name: mlcheck-reports-${{ github.job }}-${{ github.run_attempt }}",
            "          path: reports",
            "          if-no-files-found: warn",
            "",
        ]
    )
