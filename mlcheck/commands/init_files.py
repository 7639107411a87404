"""The text of the files `mlcheck init` writes: `checks/gates.toml` from what it measured
(`Measured`), and the GitHub workflow that installs mlcheck and runs `mlcheck gate`.

Also the numbers both sides share: the metrics of each task, how the quality intervals are
computed, the headroom the timing thresholds get; `init_seed` measures with them.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlcheck.models.demo import DEMO
from mlcheck.policy import (
    MLFLOW_IMAGE_ENV,
    PROMETHEUS_IMAGE_ENV,
    DataQualityPolicy,
    LatencyPolicy,
    LoadPolicy,
    QualityPolicy,
)
from mlcheck.stats.catalogue import METRICS
from mlcheck.stats.metrics import MetricEstimate
from mlcheck.stats.tasks import Task

__all__ = [
    "CONFIDENCE",
    "DECISION_THRESHOLD",
    "HEADROOM",
    "IN_TARGET_UNITS",
    "LATENCY_DEFAULTS",
    "LOAD_DEFAULTS",
    "LOAD_HEADROOM",
    "MIN_ROWS",
    "RESAMPLES",
    "SEED",
    "TASK_METRICS",
    "Measured",
    "Slices",
    "Timings",
    "ceil_places",
    "inside",
    "one_line",
    "policy_text",
    "shown",
    "workflow_text",
]

#: The metrics init gates each task on: (higher is better, lower is better).
TASK_METRICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "binary": (("accuracy", "roc_auc", "recall"), ("log_loss", "calibration_error")),
    "multiclass": (("accuracy", "f1_macro", "recall_min"), ("log_loss",)),
    "regression": (("r2",), ("rmse", "mae")),
}
#: Metrics in the target's units: the margin is a share of the measured value for them.
IN_TARGET_UNITS = frozenset({"mae", "rmse"})

#: How the quality intervals are computed: init measures so, and writes them into [quality].
RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0
DECISION_THRESHOLD = 0.5
MIN_ROWS = QualityPolicy().min_rows
_PLACES = 4

#: Timing thresholds are this many times what was measured here (a shared CI runner is
#: slower and noisier than a workstation) ...
HEADROOM = 10.0
#: ... and never below the built-in defaults, which fit a fast (XGBoost) model.
LATENCY_DEFAULTS = LatencyPolicy()
LOAD_DEFAULTS = LoadPolicy()
#: Under load, `users` requests wait on one serving process: a request's latency is about
#: users x the mean service time when it is saturated; the load thresholds allow this much more.
LOAD_HEADROOM = 3.0

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
    served_batch_rows: int = LOAD_DEFAULTS.batch_rows
    note: str = ""

    @property
    def service_ms(self) -> float:
        """The mean time a load request takes the server: the load's mix of single rows and
        batches, each at its served p95 (in-process p95 when it could not be served)."""
        single = self.served_single_p95_ms or self.single_p95_ms
        batch = self.served_batch_p95_ms or self.single_p95_ms * self.served_batch_rows
        share = LOAD_DEFAULTS.batch_share
        return (1 - share) * single + share * batch


@dataclass(frozen=True)
class Slices:
    """The slice section: the columns kept, the smallest judged slice and the allowed gap."""

    columns: tuple[str, ...]
    metric: str
    min_size: int
    max_gap: float
    worst_gap: float


@dataclass(frozen=True)
class Measured:
    """Everything the policy is written from."""

    source: str
    rows: int
    target: str
    task: Task
    estimates: dict[str, MetricEstimate]
    left_out: dict[str, str]
    baseline: MetricEstimate | None
    slices: Slices | None
    missing_rate: float
    duplicate_rate: float
    timings: Timings
    margin: float


# ---------------------------------------------------------------------------- thresholds


def _floor(value: float) -> float:
    return math.floor(value * 10**_PLACES) / 10**_PLACES


def ceil_places(value: float) -> float:
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
    slack = margin * abs(estimate.value) if estimate.name in IN_TARGET_UNITS else margin
    if spec.higher_is_better:
        return max(spec.lower, _floor(bound - half_width - slack))
    return min(spec.upper, ceil_places(bound + half_width + slack))


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


def one_line(value: str) -> str:
    """Text fit for a comment: no line breaks or other control characters."""
    return "".join(c if c.isprintable() else " " for c in value)


def _metric_lines(m: Measured, names: Sequence[str]) -> list[str]:
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


def _quality_lines(m: Measured) -> list[str]:
    level = f"{CONFIDENCE:.0%}"
    higher, lower = TASK_METRICS[m.task]
    units = [n for n in lower if n in IN_TARGET_UNITS]
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
        *([f"decision_threshold = {DECISION_THRESHOLD}"] if m.task == "binary" else []),
        f"bootstrap_resamples = {RESAMPLES}",
        f"confidence = {CONFIDENCE}",
        f"seed = {SEED}",
        f"min_rows = {MIN_ROWS}",
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
            if slices.metric not in IN_TARGET_UNITS
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


def _data_quality_lines(m: Measured) -> list[str]:
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


def _latency_lines(m: Measured, limits: dict[str, dict[str, float]]) -> list[str]:
    t = m.timings
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
            f"{LATENCY_DEFAULTS.http_concurrency} connections, and under load "
            f"{LOAD_DEFAULTS.users} users, "
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
        f"batch_rows = {LATENCY_DEFAULTS.batch_rows}",
        "",
        "[load]",
        *(f"{k} = {v:g}" for k, v in limits["load"].items()),
        "",
        "[stack]  # p95 from Prometheus' histogram after the load",
        *(f"{k} = {v:g}" for k, v in limits["stack"].items()),
    ]


def _comment(*paragraphs: str, width: int = 92) -> list[str]:
    """Paragraphs as TOML/YAML comment lines of at most `width` characters of text."""
    return [f"# {line}" for text in paragraphs for line in textwrap.wrap(one_line(text), width)]


def policy_text(m: Measured, schema_file: str, limits: dict[str, dict[str, float]]) -> str:
    """checks/gates.toml: the thresholds from what was measured (`limits`: the [latency],
    [load] and [stack] ones, chosen from the timings)."""
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
        *_latency_lines(m, limits),
        "",
        "[schema]",
        "# inferred from the reference by `mlcheck init`; relative to this file; edit it freely",
        f"file = {_toml_string(schema_file)}",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the workflow


def shown(path: Path, directory: Path) -> str:
    """`path` relative to the repository root when it lies inside it, else as given."""
    try:
        return Path(path).resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        return str(path)


def inside(path: Path, directory: Path) -> bool:
    return Path(path).resolve().is_relative_to(directory.resolve())


def _model_shown(model: str, directory: Path) -> str:
    """A local model directory relative to the root; a URI (or `demo`) as given."""
    if model == DEMO or ":/" in model or not Path(model).exists():
        return model
    return shown(Path(model), directory)


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


def workflow_text(
    directory: Path,
    model: str,
    reference: Path,
    current: Path | None,
    target: str,
    policy: Path,
    installed: tuple[str, str],
) -> str:
    """.github/workflows/mlcheck.yml: installs `installed` (the pip requirement of mlcheck,
    and why) and runs `mlcheck gate` on the model and data given."""
    package, why = installed
    env, env_lines = _workflow_env(directory, model, reference, current, target, policy)
    install, requirements_note = _install_lines(directory, model, package)
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


def _install_lines(directory: Path, model: str, package: str) -> tuple[list[str], list[str]]:
    """The install step's commands, and the comment above it on the model's requirements."""
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
    return install, requirements_note


def _workflow_env(
    directory: Path,
    model: str,
    reference: Path,
    current: Path | None,
    target: str,
    policy: Path,
) -> tuple[dict[str, str], list[str]]:
    """The job's environment (the model, data and policy from the root; the runner's images),
    and its lines, with a note above each path the runner does not have."""
    reference_shown = shown(reference, directory)
    current_shown = reference_shown if current is None else shown(current, directory)
    env = {
        "MLCHECK_MODEL": _model_shown(model, directory),
        "MLCHECK_REFERENCE": reference_shown,
        "MLCHECK_CURRENT": current_shown,
        "MLCHECK_TARGET": target,
        "MLCHECK_POLICY": shown(policy, directory),
        **_RUNNER_IMAGES,
    }
    env_lines = [f"      {k}: {_yaml_string(v)}" for k, v in env.items()]
    paths = {"MLCHECK_REFERENCE": reference, "MLCHECK_CURRENT": current or reference}
    paths["MLCHECK_POLICY"] = policy
    if model != DEMO and ":/" not in model and Path(model).exists():
        paths["MLCHECK_MODEL"] = Path(model)
    for name, path in paths.items():
        if inside(path, directory):
            continue
        at = next(i for i, line in enumerate(env_lines) if f" {name}:" in line)
        env_lines[at:at] = [
            "      # outside the repository: the runner has it only once you put it there",
            "      # (commit it, or fetch it in a step) and give its path from the root",
        ]
    if current is None:
        at = next(i for i, line in enumerate(env_lines) if "MLCHECK_CURRENT" in line)
        env_lines.insert(at, "      # the reference for now: point it at the newly labelled rows")
    return env, env_lines
