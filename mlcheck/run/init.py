"""`mlcheck init`: seed a repository with a policy measured on the user's own model and data.

It writes three files, and never over an existing one:

- `checks/gates.toml`: each quality threshold is the pessimistic end of the metric's bootstrap
  interval on the reference data, loosened by the interval's half-width and a margin, so that
  the first run passes and a real regression fails; slice gates over the low-cardinality
  categorical columns;
- `checks/schema.yaml`: the input schema inferred from the reference data;
- `.github/workflows/mlcheck.yml`: a workflow that runs the gate on every pull request and
  every push to main through the reusable action `ACTION`.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlcheck.data.io import read_table
from mlcheck.data.labels import binary_labels
from mlcheck.errors import ConfigError, DataError
from mlcheck.gates.quality import slice_gates
from mlcheck.models.demo import DEMO, demo_model_or
from mlcheck.models.load import load_model
from mlcheck.policy import QualityPolicy, SlicePolicy
from mlcheck.results import Outcome
from mlcheck.schema import infer_schema, save_schema
from mlcheck.stats.metrics import METRICS, MetricEstimate, bootstrap_metrics

__all__ = [
    "ACTION",
    "MARGIN_RANGE",
    "POLICY_FILE",
    "SCHEMA_FILE",
    "WORKFLOW_FILE",
    "init_repository",
    "next_command",
]

#: The reusable GitHub action the generated workflow calls (`uses:`). It takes the inputs
#: `model`, `reference`, `current`, `target`, `policy` and `stack` and runs `mlcheck gate`
#: with them. Pass `action=` to pin another release or a fork.
ACTION = "mlcheck/mlcheck@v1"

#: The written files, relative to the repository root. `mlcheck gate` reads the policy from
#: `checks/gates.toml` by default; the policy names its schema relative to its own folder.
POLICY_FILE = Path("checks") / "gates.toml"
SCHEMA_FILE = Path("checks") / "schema.yaml"
WORKFLOW_FILE = Path(".github") / "workflows" / "mlcheck.yml"

#: Allowed values of `margin`: beyond half the metric's range a threshold no longer guards.
MARGIN_RANGE = (0.0, 0.5)

_MIN_METRICS = ("accuracy", "roc_auc", "recall")
_MAX_METRICS = ("log_loss", "calibration_error")
_RESAMPLES = 1000
_CONFIDENCE = 0.95
_SEED = 0
_DECISION_THRESHOLD = 0.5
_SLICE_METRIC = "roc_auc"
_MAX_SLICE_COLUMNS = 5
_MAX_CATEGORIES = 20
_MIN_SLICE_GAP = 0.08
_PLACES = 4


@dataclass(frozen=True)
class _Slices:
    """The slice section: the columns kept, the smallest judged slice and the allowed gap."""

    columns: tuple[str, ...]
    min_size: int
    max_gap: float
    worst_gap: float


def init_repository(
    model: str,
    reference: Path,
    target: str,
    directory: Path = Path("."),
    current: Path | None = None,
    margin: float = 0.02,
    action: str = ACTION,
) -> list[Path]:
    """Write the policy, schema and workflow under `directory`; return the written paths.

    `model` is a model URI (or `demo`), `reference` labelled data the model is known to be good
    on, `target` its 0/1 label column, `current` the data the workflow gates (default: the
    reference). Raises `ConfigError` for a bad margin or an existing target file (before
    anything is written); errors loading the model or the data propagate.
    """
    if not (MARGIN_RANGE[0] <= margin <= MARGIN_RANGE[1]):
        raise ConfigError(
            f"--margin={margin!r} is out of range; allowed: [{MARGIN_RANGE[0]}, "
            f"{MARGIN_RANGE[1]}] (how far below the measured metrics the thresholds go)"
        )
    directory = Path(directory)
    targets = [directory / POLICY_FILE, directory / SCHEMA_FILE, directory / WORKFLOW_FILE]
    for path in targets:
        if path.exists() or path.is_symlink():
            raise ConfigError(
                f"{path} exists; mlcheck init never overwrites a file: move it away or edit it"
            )

    predictor = load_model(demo_model_or(model))
    frame = read_table(reference, "--reference")
    features = frame.drop(columns=[target], errors="ignore")
    scores = np.asarray(predictor.predict(features), dtype=np.float64)
    if predictor.task != "binary":  # known once scored, for a plain pyfunc model
        raise ConfigError(
            f"model={model!r} is a {predictor.task} model; mlcheck init measures binary "
            f"classifiers. Copy checks/examples/{predictor.task}.toml from the mlcheck "
            "repository to checks/gates.toml and set its target and thresholds"
        )
    labels = binary_labels(frame, target, "reference data")
    if scores.shape != labels.shape or not np.isfinite(scores).all():
        raise DataError(
            f"model={model!r} returned {len(scores)} scores for {len(frame)} rows of "
            f"--reference={str(reference)!r} or non-finite values; check that the data matches "
            "the model's features"
        )
    estimates = bootstrap_metrics(
        labels,
        scores,
        [*_MIN_METRICS, *_MAX_METRICS],
        threshold=_DECISION_THRESHOLD,
        resamples=_RESAMPLES,
        confidence=_CONFIDENCE,
        seed=_SEED,
    )
    undefined = [name for name, e in estimates.items() if not math.isfinite(e.value)]
    if undefined:
        raise DataError(
            f"--reference={str(reference)!r}: {', '.join(undefined)} cannot be measured on "
            f"it (a single class in {target!r}?); measure on rows with both labels"
        )
    slices = _measure_slices(frame, target, labels, scores, margin)

    policy = _policy_text(Path(reference).name, len(frame), target, estimates, slices, margin)
    workflow = _workflow_text(directory, model, Path(reference), current, target, action)
    save_schema(infer_schema(frame, target), targets[1])  # makes checks/
    targets[0].write_text(policy, encoding="utf-8")
    targets[2].parent.mkdir(parents=True, exist_ok=True)
    targets[2].write_text(workflow, encoding="utf-8")
    return targets


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
    frame: pd.DataFrame, target: str, labels: np.ndarray, scores: np.ndarray, margin: float
) -> _Slices | None:
    """The slice section, or None when no column can be sliced.

    A column whose slices cannot be judged on the reference (no slice of `min_size` rows, or
    a slice with one class only) is left out: its gate would not decide on similar data.
    """
    columns = _slice_columns(frame, target)
    if not columns:
        return None
    min_size = max(30, len(frame) // 50)
    rules = SlicePolicy(columns=tuple(columns), metric=_SLICE_METRIC, min_size=min_size)
    policy = QualityPolicy(decision_threshold=_DECISION_THRESHOLD, slices=rules)
    kept, gaps = [], []
    for column, gate in zip(columns, slice_gates(frame, labels, scores, policy), strict=True):
        if gate.outcome is Outcome.ERROR or gate.value is None or not math.isfinite(gate.value):
            continue
        kept.append(column)
        gaps.append(gate.value)
    if not kept:
        return None
    worst = max(gaps)
    upper = METRICS[_SLICE_METRIC].upper
    max_gap = min(upper, _ceil(max(_MIN_SLICE_GAP, worst + margin)))
    return _Slices(tuple(kept), min_size, max_gap, worst)


def _floor(value: float) -> float:
    return math.floor(value * 10**_PLACES) / 10**_PLACES


def _ceil(value: float) -> float:
    return math.ceil(value * 10**_PLACES) / 10**_PLACES


def _threshold(estimate: MetricEstimate, margin: float) -> float:
    """The pessimistic bound loosened by the interval's half-width and `margin`, rounded the
    safe way, within the range.

    The gate decides on the current data's own pessimistic bound, about a half-width past its
    value; loosening by one more half-width lets a fresh sample of the same size anywhere in
    the reference's interval pass, and `margin` is the regression that is tolerated on top.
    """
    spec = METRICS[estimate.name]
    bound = estimate.pessimistic(spec.higher_is_better)
    half_width = (estimate.high - estimate.low) / 2
    if spec.higher_is_better:
        return max(spec.lower, _floor(bound - half_width - margin))
    return min(spec.upper, _ceil(bound + half_width + margin))


def _number(value: float) -> str:
    return f"{value:.{_PLACES}f}"


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


def _metric_lines(
    names: Sequence[str], estimates: dict[str, MetricEstimate], source: str, margin: float
) -> list[str]:
    lines = []
    for name in names:
        e = estimates[name]
        lines.append(
            f"# measured on {source}: {_number(e.value)} [{_number(e.low)}, {_number(e.high)}]"
        )
        lines.append(f"{name} = {_number(_threshold(e, margin))}")
    return lines


def _policy_text(
    source: str,
    rows: int,
    target: str,
    estimates: dict[str, MetricEstimate],
    slices: _Slices | None,
    margin: float,
) -> str:
    source = _one_line(source)
    level = f"{_CONFIDENCE:.0%}"
    lines = [
        "# mlcheck gate policy, measured on your model by `mlcheck init`.",
        f"# Each quality threshold is the pessimistic end of the metric's {level} bootstrap",
        f"# interval on {source} ({rows:,} rows), loosened by the interval's half-width and by",
        f"# a margin of {margin:g}, so that the first run passes on a fresh sample of as many",
        "# rows and a real regression fails. The gate decides on the current data's own",
        "# interval. Tighten the thresholds to what your model must reach (mlcheck init",
        "# --margin sets the margin).",
        "# Every key is checked when the policy loads; see the mlcheck README for all of them.",
        "",
        "[data]",
        f"target = {_toml_string(target)}",
        "",
        "[quality]",
        f"decision_threshold = {_DECISION_THRESHOLD}",
        f"bootstrap_resamples = {_RESAMPLES}",
        f"confidence = {_CONFIDENCE}",
        f"seed = {_SEED}",
        "",
        "# higher is better: the interval's low end must reach these",
        f"# (measured low end - half-width - {margin:g})",
        "[quality.min]",
        *_metric_lines(_MIN_METRICS, estimates, source, margin),
        "",
        "# lower is better: the interval's high end must stay under these",
        f"# (measured high end + half-width + {margin:g})",
        "[quality.max]",
        *_metric_lines(_MAX_METRICS, estimates, source, margin),
        "",
    ]
    if slices is None:
        lines += [
            "# no categorical column with 2 to 20 values that can be sliced on the reference",
            "[quality.slices]",
            "enabled = false",
        ]
    else:
        columns = ", ".join(_toml_string(c) for c in slices.columns)
        lines += [
            "# no category may trail the overall metric by more than max_gap",
            "[quality.slices]",
            f"columns = [{columns}]",
            f"metric = {_toml_string(_SLICE_METRIC)}",
            "# smaller categories are listed but not judged (max(30, rows / 50))",
            f"min_size = {slices.min_size}",
            f"# worst gap measured on {source}: {_number(slices.worst_gap)}; "
            f"max(0.08, worst gap + {margin:g})",
            f"max_gap = {_number(slices.max_gap)}",
        ]
    lines += [
        "",
        "[schema]",
        "# inferred from the reference by `mlcheck init`; relative to this file; edit it freely",
        f"file = {_toml_string(SCHEMA_FILE.name)}",
        "",
    ]
    return "\n".join(lines)


def _shown(path: Path, directory: Path) -> str:
    """`path` relative to the repository root when it lies inside it, else as given."""
    try:
        return Path(path).resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        return str(path)


def _model_shown(model: str, directory: Path) -> str:
    """A local model directory relative to the root; a URI (or `demo`) as given."""
    if model == DEMO or ":/" in model or not Path(model).exists():
        return model
    return _shown(Path(model), directory)


def _yaml_string(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string escapes are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _workflow_text(
    directory: Path,
    model: str,
    reference: Path,
    current: Path | None,
    target: str,
    action: str,
) -> str:
    reference_shown = _shown(reference, directory)
    if current is None:
        current_lines = [
            "          # the reference for now: point current at the newly labelled rows",
            f"          current: {_yaml_string(reference_shown)}",
        ]
    else:
        current_lines = [f"          current: {_yaml_string(_shown(current, directory))}"]
    return "\n".join(
        [
            f"# The mlcheck quality gate: a change whose model misses {POLICY_FILE.as_posix()}",
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
            "    steps:",
            "      - uses: actions/checkout@v5",
            f"      - uses: {action}",
            "        with:",
            f"          model: {_yaml_string(_model_shown(model, directory))}",
            f"          reference: {_yaml_string(reference_shown)}",
            *current_lines,
            f"          target: {_yaml_string(target)}",
            f"          policy: {POLICY_FILE.as_posix()}",
            "          stack: containers",
            "",
        ]
    )
