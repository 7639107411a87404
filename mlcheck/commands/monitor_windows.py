"""`mlcheck monitor`: the drift (and, once labels are joined, accuracy) gates on each new
window of captured traffic, published as the gauges the alert rules read.

A window is the capture files that appeared since the last one (`mlcheck serve --capture`
renames a file into place only when it is complete), once they hold `min_rows` rows. Its
features are compared with the reference data by the drift gates; when `labels.parquet`
holds labels for its rows, the captured predictions are scored against them. The results go
to `GateMetrics` (`ml_data_drift_share`, `ml_data_drift_detected`, `ml_model_accuracy` or
`ml_model_rmse`, `mlcheck_gate_*`), served on loopback for Prometheus to scrape as the job
`mlcheck-gates`, which is what `MlcheckDataDrift` and `MlcheckLowModelAccuracy` watch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlcheck.data.bank import TARGET
from mlcheck.data.capture import (
    CAPTURE_COLUMNS,
    CAPTURE_ID,
    LABELS_FILE,
    capture_files,
    read_capture,
)
from mlcheck.errors import DataError
from mlcheck.gates.drift import column_kinds, drift_gates
from mlcheck.policy import Policy
from mlcheck.results import Comparison, GateResult
from mlcheck.stack.exporter import GateMetrics

__all__ = ["Monitor", "Window"]


@dataclass
class Window:
    """One window's files, rows and gates."""

    number: int
    files: list[Path]
    rows: int
    gates: list[GateResult] = field(default_factory=list)
    #: Rows labelled since the last window, scored in this one (0: no quality gate).
    labelled: int = 0

    def line(self) -> str:
        shown = [g for g in self.gates if g.name in ("drift.dataset", "quality.accuracy",
                                                     "quality.rmse")]  # fmt: skip
        parts = ", ".join(f"{g.name} {g.value:.3f} {g.outcome.value}" for g in shown if g.value
                          is not None)  # fmt: skip
        scored = f", {self.labelled:,} newly labelled" if self.labelled else ""
        return (
            f"window {self.number}: {self.rows:,} rows from {len(self.files)} files{scored}: "
            f"{parts}"
        )


class Monitor:
    """Windows of `capture` against `reference`, gated by `policy`, published to `metrics`."""

    def __init__(
        self,
        capture: Path,
        reference: pd.DataFrame,
        policy: Policy,
        metrics: GateMetrics,
        min_rows: int = 1000,
    ) -> None:
        self.capture, self.reference, self.policy = capture, reference, policy
        self.metrics, self.min_rows = metrics, min_rows
        #: The labels' column (`mlcheck label --target`, default y), unless the policy names one.
        self.target = policy.target or TARGET
        self.kinds = column_kinds(None, reference, exclude=[self.target])
        self.seen: set[Path] = set()
        self.windows = 0
        #: The captured rows already scored against labels, and the labels file last read.
        self.scored: set[str] = set()
        self._labels_seen: tuple[float, int] | None = None

    def _quality(self, frame: pd.DataFrame) -> list[GateResult]:
        """The captured predictions scored against the joined labels: accuracy of a
        classifier (the predicted class), RMSE of a regressor (the predicted value)."""
        target = self.target
        if target not in frame.columns or "prediction" not in frame.columns:
            return []
        truth, predicted = frame[target], frame["prediction"]
        numeric = pd.api.types.is_numeric_dtype(truth) and pd.api.types.is_numeric_dtype(predicted)
        rules = {rule.metric: rule for rule in self.policy.quality.thresholds}
        if numeric and truth.nunique() > 20:  # a regressor's values
            error = predicted.to_numpy(float) - truth.to_numpy(float)
            rmse = float(np.sqrt(np.mean(error**2)))
            rule = rules.get("rmse")
            threshold, stated = (rule.threshold, "") if rule else self._baseline("rmse")
            return [self._judged("quality.rmse", "rmse", rmse, threshold, Comparison.LE, stated)]
        same = (
            truth.to_numpy() == predicted.to_numpy()
            if numeric
            else truth.astype(str).to_numpy() == predicted.astype(str).to_numpy()
        )
        rule = rules.get("accuracy")
        threshold, stated = (rule.threshold, "") if rule else self._baseline("accuracy")
        accuracy = float(np.mean(same))
        return [self._judged("quality.accuracy", "accuracy", accuracy, threshold, Comparison.GE,
                             stated)]  # fmt: skip

    def _baseline(self, metric: str) -> tuple[float, str]:
        """The threshold of a quality gate the policy states none for: the reference's own
        baseline, never one that cannot fire. A regressor must beat predicting the reference's
        mean label (RMSE at most the label's standard deviation); a classifier, predicting its
        most common class (accuracy at least that class's share)."""
        labels = self.reference.get(self.target)
        if labels is None or labels.dropna().empty:
            raise DataError(
                f"the policy states no [quality] {metric} threshold and the reference data has no "
                f"{self.target!r} labels to judge against; add `{metric} = VALUE` under "
                f"[quality.{'max' if metric == 'rmse' else 'min'}] or pass a labelled reference"
            )
        labels = labels.dropna()
        if metric == "rmse":
            value = float(pd.to_numeric(labels, errors="coerce").std(ddof=0))
            return value, f"no [quality.max] rmse: the reference's label sd {value:.4g}"
        value = float(labels.astype(str).value_counts(normalize=True).iloc[0])
        return value, f"no [quality.min] accuracy: the reference's majority share {value:.4g}"

    @staticmethod
    def _judged(
        name: str, metric: str, value: float, threshold: float, comparison: Comparison, stated: str
    ) -> GateResult:
        if not stated:
            return GateResult.judged(name, metric, value, threshold, comparison)
        reason = f"{stated} (a model no better than that baseline fails)"
        return GateResult.judged(
            name, metric, value, threshold, comparison, reason, {"threshold_from": stated}
        )

    def window(self) -> Window | None:
        """Gate the files that appeared since the last window once they hold `min_rows` rows,
        labelled or not (drift does not wait for labels), and score the captured rows labelled
        since the last window once `min_rows` of them are new (accuracy joins later)."""
        new = [f for f in capture_files(self.capture) if f not in self.seen]
        frame = read_capture(self.capture, "--capture", new, labelled_only=False) if new else None
        traffic = frame if frame is not None and len(frame) >= self.min_rows else None
        labelled = self._newly_labelled()
        if traffic is None and labelled is None:
            return None  # wait for more traffic or labels
        self.windows += 1
        window = Window(self.windows, [], 0)
        if traffic is not None:
            window.files, window.rows = new, len(traffic)
            self.seen.update(new)
            window.gates = self._drift(traffic)
        if labelled is not None:
            self.scored.update(labelled[CAPTURE_ID].astype(str))
            window.labelled = len(labelled)
            window.gates += self._quality(labelled)
        for gate in window.gates:
            self.metrics.observe(gate)
        return window

    def _drift(self, frame: pd.DataFrame) -> list[GateResult]:
        features = frame.drop(columns=[c for c in CAPTURE_COLUMNS if c in frame.columns])
        kinds = {c: k for c, k in self.kinds.items() if c in features.columns}
        if not kinds:
            raise DataError(
                f"--capture={str(self.capture)!r} holds none of the reference's columns "
                f"({', '.join(map(str, self.reference.columns))}); is it the right reference?"
            )
        return drift_gates(self.reference, features, kinds, self.policy.drift)

    def _newly_labelled(self) -> pd.DataFrame | None:
        """The captured rows labelled since the last scoring, once `min_rows` of them are new
        (read only when `labels.parquet` changed)."""
        path = self.capture / LABELS_FILE
        if not path.is_file():
            return None
        stamp = (path.stat().st_mtime, path.stat().st_size)
        if stamp == self._labels_seen:
            return None
        self._labels_seen = stamp  # the labelled rows change only with this file
        labelled = read_capture(self.capture, "--capture")
        fresh = labelled[~labelled[CAPTURE_ID].astype(str).isin(self.scored)]
        return fresh if len(fresh) >= self.min_rows else None  # else: wait for more labels

    def run(self, every_s: float, say: Callable[[str], None], windows: int | None = None) -> None:
        """Gate a window every `every_s` seconds (`windows` times, or until stopped)."""
        while windows is None or self.windows < windows:
            started = time.monotonic()
            done = self.window()
            if done is not None:
                say(done.line())
            time.sleep(max(0.0, every_s - (time.monotonic() - started)))
