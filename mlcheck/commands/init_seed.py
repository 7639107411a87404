"""`mlcheck init`'s work: seed a repository with a policy measured on the user's own model and
data.

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
This module measures; `init_files` writes the files' text.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shlex
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from mlcheck.commands.init_files import (
    CONFIDENCE,
    DECISION_THRESHOLD,
    HEADROOM,
    IN_TARGET_UNITS,
    LATENCY_DEFAULTS,
    LOAD_DEFAULTS,
    LOAD_HEADROOM,
    MIN_ROWS,
    RESAMPLES,
    SEED,
    TASK_METRICS,
    Measured,
    Slices,
    Timings,
    ceil_places,
    inside,
    one_line,
    policy_text,
    shown,
    workflow_text,
)
from mlcheck.data.io import read_table
from mlcheck.data.labels import task_labels
from mlcheck.errors import ConfigError, DataError
from mlcheck.gates.quality import slice_gates
from mlcheck.models.demo import demo_model_or
from mlcheck.models.load import Predictor, load_model
from mlcheck.policy import DEFAULT_SLICE_METRIC, QualityPolicy, SlicePolicy
from mlcheck.probes.http import records_from_frame
from mlcheck.results import Outcome
from mlcheck.schema import infer_schema, save_schema
from mlcheck.stats.catalogue import METRICS
from mlcheck.stats.metrics import COLLAPSED, metric_intervals, paired_difference
from mlcheck.stats.tasks import Task
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

#: The metric slices are compared on: AUC and accuracy are comparable across slices; a
#: regressor's R² is not (a slice's target varies less than the whole), its MAE is.
SLICE_METRIC = {**DEFAULT_SLICE_METRIC, "regression": "mae"}
_MAX_SLICE_COLUMNS = 5
_MAX_CATEGORIES = 20
_MIN_SLICE_GAP = 0.08
#: How long each timing may take (seconds) and how many calls it makes at most.
_SINGLE_BUDGET = (1.5, 200)
_BATCH_BUDGET = (3.0, 30)
_SERVED_BUDGET = (2.0, 100)
_WARMUP = 3

#: mlcheck's extras the workflow installs: locust for the load gate, testcontainers for the
#: Prometheus and MLflow containers of the stack gates, Evidently for drift.html (the model's own
#: packages, xgboost or lightgbm among them, come from the requirements the workflow installs).
_EXTRAS = "load,stack,evidently"


@dataclass(frozen=True)
class Seeded:
    """What init did: the files written, the ones kept (they existed), the task and timings."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    task: Task | None = None
    timings: Timings | None = None


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
        limits = _latency_limits(measured.timings)
        policy_path.write_text(policy_text(measured, schema_file, limits), encoding="utf-8")
        written.append(policy_path)
    if workflow_path not in kept:
        installed = requirement(directory)
        text = workflow_text(
            directory, model, Path(reference), current, target, policy_path, installed
        )
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
) -> Measured:
    """The quality metrics of the model's task on the reference, with their intervals."""
    features = frame.drop(columns=[target], errors="ignore")
    scores = predictor.scores(features, f"--reference={str(reference)!r}")
    task = predictor.task
    assert task is not None  # set once scored
    count = scores.shape[1] if scores.ndim == 2 else 0
    labels = task_labels(frame, target, task, predictor.classes, "reference data", count)
    if len(labels) < MIN_ROWS:
        raise DataError(
            f"--reference={str(reference)!r} has {len(labels)} rows; the quality gates need "
            f"at least {MIN_ROWS} labelled rows to decide, so measure on more"
        )
    higher, lower = TASK_METRICS[task]
    estimates = metric_intervals(
        labels,
        scores,
        [*higher, *lower],
        threshold=DECISION_THRESHOLD,
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        seed=SEED,
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
            resamples=RESAMPLES,
            confidence=CONFIDENCE,
            seed=SEED,
            task=task,
        )["rmse"]
    rows = len(frame)
    return Measured(
        source=one_line(Path(reference).name),
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
    task: Task,
    margin: float,
) -> Slices | None:
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
    policy = QualityPolicy(decision_threshold=DECISION_THRESHOLD, slices=rules)
    kept, gaps, scale = [], [], 1.0
    for column, gate in zip(columns, slice_gates(frame, labels, scores, policy, task), strict=True):
        if gate.outcome is Outcome.ERROR or gate.value is None or not math.isfinite(gate.value):
            continue
        kept.append(column)
        gaps.append(gate.value)
        if metric in IN_TARGET_UNITS:
            scale = max(float(gate.details["overall"]), 1e-12)
    if not kept:
        return None
    worst = max(gaps)
    max_gap = ceil_places(scale * max(_MIN_SLICE_GAP, worst / scale + margin))
    if max_gap > METRICS[metric].upper:
        return None
    return Slices(tuple(kept), metric, min_size, max_gap, worst)


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
    batch_rows = min(LATENCY_DEFAULTS.batch_rows, len(frame))

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

    records = records_from_frame(frame.head(max(100, LOAD_DEFAULTS.batch_rows)), names)
    batch_rows = min(LOAD_DEFAULTS.batch_rows, len(records))
    with tempfile.TemporaryDirectory(prefix="mlcheck-init-") as folder:
        schema_file = save_schema(schema, Path(folder) / "schema.yaml")
        config = ServingConfig(
            model=predictor.info.path or predictor.info.uri,
            schema=str(schema_file),
            target=target,
            decision_threshold=DECISION_THRESHOLD,
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
    connections = LATENCY_DEFAULTS.http_concurrency
    queued = LOAD_DEFAULTS.users * t.service_ms
    load_p95 = _limit(queued, LOAD_HEADROOM, LOAD_DEFAULTS.p95_ms)
    capacity = 1000.0 / max(t.service_ms, 1e-6)  # requests per second of one process
    return {
        "latency": {
            "single_p95_ms": _limit(t.single_p95_ms, HEADROOM, LATENCY_DEFAULTS.single_p95_ms),
            "batch_p95_ms": _limit(t.batch_p95_ms, HEADROOM, LATENCY_DEFAULTS.batch_p95_ms),
            "http_p95_ms": _limit(
                connections * served_p95, LOAD_HEADROOM, LATENCY_DEFAULTS.http_p95_ms
            ),
            "http_p99_ms": _limit(
                connections * served_p99, 2 * LOAD_HEADROOM, LATENCY_DEFAULTS.http_p99_ms
            ),
        },
        "load": {
            "p95_ms": load_p95,
            "p99_ms": _limit(queued, 2 * LOAD_HEADROOM, LOAD_DEFAULTS.p99_ms),
            "min_rps": min(LOAD_DEFAULTS.min_rps, math.floor(capacity / 4 * 10) / 10),
        },
        "stack": {"p95_ms": load_p95},
    }


# ---------------------------------------------------------------------------- the requirement


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
        if inside(local, directory):
            folder = shown(local, directory)
            return (
                f"{'.' if folder == '.' else './' + folder}[{_EXTRAS}]",
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
