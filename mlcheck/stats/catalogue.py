"""What the statistics offer, by name: the quality metrics (direction, range, tasks) and the
drift tests (verdict rule, default threshold, column kinds). Light on purpose: the policy and
the command line check names against it without importing the computations (numpy, scipy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlcheck.stats.tasks import TASKS, Task

if TYPE_CHECKING:  # mlcheck.features imports numpy and pandas; this module must not
    from mlcheck.features import ColumnKind

__all__ = [
    "ERROR_QUANTILES",
    "KINDS",
    "LARGE_SAMPLE_ROWS",
    "METHODS",
    "METRICS",
    "MethodSpec",
    "MetricSpec",
    "task_metrics",
]

#: The absolute-error quantile metrics and the level each stands for.
ERROR_QUANTILES = {"abs_error_p50": 0.50, "abs_error_p90": 0.90, "abs_error_p99": 0.99}

#: From this many rows on, `metric_intervals` uses large-sample intervals (policy:
#: [quality] large_sample_rows): 1000 bootstrap resamples of a million rows take ~35 s.
LARGE_SAMPLE_ROWS = 100_000

_CLASSIFIERS = frozenset({"binary", "multiclass"})
_ALL = frozenset(TASKS)


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, direction, the tasks it applies to and the range of its values."""

    name: str
    higher_is_better: bool
    tasks: frozenset[str] = frozenset({"binary"})
    lower: float = 0.0
    upper: float = 1.0


_INF = math.inf
METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", True, _CLASSIFIERS),
        MetricSpec("roc_auc", True, _CLASSIFIERS),
        MetricSpec("f1", True),
        MetricSpec("precision", True),
        MetricSpec("recall", True),
        MetricSpec("log_loss", False, _CLASSIFIERS, 0.0, _INF),
        MetricSpec("brier", False, _CLASSIFIERS, 0.0, 2.0),
        MetricSpec("calibration_error", False, _CLASSIFIERS),
        MetricSpec("f1_macro", True, frozenset({"multiclass"})),
        MetricSpec("f1_weighted", True, frozenset({"multiclass"})),
        MetricSpec("precision_macro", True, frozenset({"multiclass"})),
        MetricSpec("recall_macro", True, frozenset({"multiclass"})),
        MetricSpec("precision_min", True, frozenset({"multiclass"})),
        MetricSpec("recall_min", True, frozenset({"multiclass"})),
        MetricSpec("mae", False, frozenset({"regression"}), 0.0, _INF),
        MetricSpec("rmse", False, frozenset({"regression"}), 0.0, _INF),
        MetricSpec("r2", True, frozenset({"regression"}), -_INF, 1.0),
        MetricSpec("mape", False, frozenset({"regression"}), 0.0, _INF),
        *(MetricSpec(q, False, frozenset({"regression"}), 0.0, _INF) for q in ERROR_QUANTILES),
    )
}
assert all(spec.tasks <= _ALL for spec in METRICS.values())


def task_metrics(task: Task) -> list[str]:
    """The metrics defined for `task`, in catalogue order."""
    return [name for name, spec in METRICS.items() if task in spec.tasks]


#: The column kinds the drift tests know.
KINDS: tuple[ColumnKind, ...] = ("numeric", "categorical")  # COLUMN_KINDS, a test holds it


def label_kind(task: str) -> ColumnKind:
    """How labels are compared: a regressor's target by value, classes by category."""
    return "numeric" if task == "regression" else "categorical"


def output_kind(task: str) -> ColumnKind:
    """How a model's outputs are compared: a multiclass model's predicted classes by category,
    P(class 1) or predicted values by value."""
    return "categorical" if task == "multiclass" else "numeric"


@dataclass(frozen=True)
class MethodSpec:
    """A drift test: its verdict rule, default threshold and the column kinds it accepts.

    `inclusive` says whether a statistic equal to the threshold already counts as drift:
    Evidently drifts on `p <= threshold` for KS but `p < threshold` for chi-square and Z, and on
    `distance >= threshold` for every distance.
    """

    name: str
    is_p_value: bool
    default_threshold: float
    kinds: tuple[ColumnKind, ...]
    display_name: str = ""
    inclusive: bool = True

    def drifted(self, statistic: float, threshold: float) -> bool:
        """Evidently's verdict for this test (a NaN statistic never drifts)."""
        if self.is_p_value:
            return bool(statistic <= threshold if self.inclusive else statistic < threshold)
        return bool(statistic >= threshold if self.inclusive else statistic > threshold)


# Evidently registers chi-square and Z for categorical columns only, yet picks them by default
# for numeric columns with at most five distinct values; both are accepted for numeric columns
# here so that `default_method`'s answer can always be passed back as `method`.
METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("ks", True, 0.05, ("numeric",), "K-S p_value", inclusive=True),
        MethodSpec(
            "chisquare", True, 0.05, ("numeric", "categorical"), "chi-square p_value", False
        ),
        MethodSpec("z", True, 0.05, ("numeric", "categorical"), "Z-test p_value", False),
        MethodSpec(
            "chi2_two_sample",
            True,
            0.05,
            ("numeric", "categorical"),
            "two-sample chi-square p_value",
            False,
        ),
        MethodSpec("wasserstein", False, 0.1, ("numeric",), "Wasserstein distance (normed)"),
        MethodSpec(
            "jensenshannon", False, 0.1, ("numeric", "categorical"), "Jensen-Shannon distance"
        ),
        MethodSpec("psi", False, 0.1, ("numeric", "categorical"), "PSI"),
        MethodSpec("kl_div", False, 0.1, ("numeric", "categorical"), "Kullback-Leibler divergence"),
    )
}
