"""Classification metrics estimated from the model's own probabilities, before labels arrive.

Confidence-based performance estimation (NannyML's CBPE): if the model is calibrated, a row
scored p is positive with probability p, so the confusion matrix the labels will show has the
expected counts E[TP] = sum(p over rows predicted positive), E[FP] = sum(1 - p over them), and
so on; the metrics are those counts' ratios. ROC AUC is the AUC with each row counted as p of
a positive and 1 - p of a negative. The interval is what the labels could show, given
calibration: the spread of the metric over label sets drawn from the probabilities (`draws`
times), or, on a large sample (`large_sample_rows` rows and `LARGE_SAMPLE_CLASS_ROWS` expected
in each class and each prediction), its closed form: a row's label is a Bernoulli(p) draw, so
the expected confusion counts have the variance sum(p (1 - p)) over their rows (true positives
and false negatives are sums over disjoint rows: independent), and each metric's variance
follows by the delta method (for ROC AUC, from its derivative in each row's label), as the
large-sample intervals of `mlcheck.stats.metrics` do. 400 draws of a million rows take ~10 s;
the closed form, one sort. `tests/test_estimated_large_sample.py` checks that its nominal 95%
covers the labels' metric 94-96% of the time.

Valid while the model stays calibrated on the current data: a shift in the inputs (covariate
shift) or in the class balance the model's probabilities follow is estimated well; a change in
how labels follow inputs (concept drift) leaves the probabilities unchanged and is invisible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from mlcheck.stats.binary import binary_from_sums, tie_groups
from mlcheck.stats.catalogue import LARGE_SAMPLE_ROWS
from mlcheck.stats.metrics import LARGE_SAMPLE_CLASS_ROWS, MetricEstimate, _interval
from mlcheck.stats.tasks import Task

__all__ = ["CLOSED_FORM", "DRAWN", "ESTIMABLE", "estimated_metrics", "realized_metrics"]

#: The metrics estimated per task (regression has no probabilities to estimate from).
ESTIMABLE = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy",),
}
_CHUNK_CELLS = 4_000_000  # draws x rows per chunk of simulated labels
#: `MetricEstimate.method` of an interval from drawn label sets, and of the closed form.
DRAWN = "confidence-based"
CLOSED_FORM = "delta method"


def _auc(positive: np.ndarray, ranks: np.ndarray, n: int) -> np.ndarray:
    """Mann-Whitney AUC of (fractional) positive weights per row of `positive`, from the
    scores' mid-ranks: ties count one half."""
    mass = positive.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        wins = positive @ ranks - mass * (mass + 1) / 2
        # a fractional row is partly positive and partly negative: its own pair is not one
        # (0 for drawn labels of 0 and 1)
        own = (positive * (1 - positive)).sum(axis=-1) / 2
        return np.where((mass > 0) & (mass < n), (wins + own) / (mass * (n - mass)), np.nan)


class _Expected:
    """The rows' probabilities as the confusion counts and ranks every metric here sums over:
    metrics of any label matrix (draws x rows, 0/1 or fractional), and of `p` itself."""

    def __init__(self, y_score: np.ndarray, task: Task, threshold: float, ranked: bool) -> None:
        scores = np.asarray(y_score, dtype=np.float64)
        self.task = task
        if task == "multiclass":
            chosen = np.argmax(scores, axis=1)
            self.p = scores[np.arange(len(scores)), chosen]  # P(the predicted class is right)
            self.predicted = np.ones(len(self.p))
        else:
            self.p = scores
            self.predicted = (self.p >= threshold).astype(np.float64)
        self.n = len(self.p)
        self.ranks = np.empty(0)
        if ranked:  # mid-ranks (ties share their mean rank) from one sort
            self.order = np.argsort(self.p)
            self.starts = tie_groups(self.p[self.order])
            self.sizes = np.diff(np.r_[self.starts, self.n])
            self.ranks = np.empty(self.n)
            self.ranks[self.order] = np.repeat(self.starts + (self.sizes + 1) / 2, self.sizes)

    def metrics(self, labels: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The metrics of label matrices (draws x rows; fractional for the expectation)."""
        n = self.n
        if self.task == "multiclass":
            return {"accuracy": labels.sum(axis=-1) / n}
        tp = labels @ self.predicted
        fn = labels.sum(axis=-1) - tp
        fp = self.predicted.sum() - tp
        correct = n - fp - fn
        sums = np.column_stack([correct, tp, fp, fn])
        out = binary_from_sums(sums, np.full(len(sums), float(n)), names)
        if "roc_auc" in names:
            out["roc_auc"] = _auc(labels, self.ranks, n)
        return out

    def large_sample(self, rows: int) -> bool:
        """The stated rule for the closed form: at least `rows` rows, and at least
        `LARGE_SAMPLE_CLASS_ROWS` expected positives and negatives and (binary) predicted
        positives and negatives: counts far from 0 are close to normal."""
        if self.n < rows:
            return False
        expected = float(self.p.sum())
        counts = [expected, self.n - expected]
        if self.task != "multiclass":
            predicted = float(self.predicted.sum())
            counts += [predicted, self.n - predicted]
        return min(counts) >= LARGE_SAMPLE_CLASS_ROWS

    def standard_errors(self, point: dict[str, float]) -> dict[str, float]:
        """Each metric's standard error over the labels the probabilities draw: the variance
        of a sum of Bernoulli(p) labels is sum(p (1 - p)); a ratio's by the delta method."""
        var = self.p * (1.0 - self.p)
        out: dict[str, float] = {}
        if self.task == "multiclass":
            return {"accuracy": float(np.sqrt(var.sum())) / self.n}
        # expected true positives a and false negatives b (disjoint rows: independent),
        # predicted positives d (fixed by the scores)
        a, d = float(self.p @ self.predicted), float(self.predicted.sum())
        b = float(self.p.sum()) - a
        va = float(var @ self.predicted)
        vb = float(var.sum()) - va
        for name in point:
            if name == "accuracy":  # (a + (n - d) - b) / n
                grad = (1.0 / self.n, -1.0 / self.n)
            elif name == "precision":  # a / d
                grad = (1.0 / d if d > 0 else 0.0, 0.0)
            elif name == "recall":  # a / (a + b)
                grad = (b / (a + b) ** 2, -a / (a + b) ** 2) if a + b > 0 else (0.0, 0.0)
            elif name == "f1":  # 2a / (2a + (d - a) + b)
                total = a + d + b
                grad = (2 * (d + b) / total**2, -2 * a / total**2) if total > 0 else (0.0, 0.0)
            else:
                out[name] = self._auc_standard_error(point[name])
                continue
            out[name] = float(np.sqrt(grad[0] ** 2 * va + grad[1] ** 2 * vb))
        return out

    def _auc_standard_error(self, auc: float) -> float:
        """ROC AUC = W / (P (n - P)) with W the positive-negative pairs ranked right (ties one
        half) and P the positives: its derivative in row k's label is (dW_k - AUC (n - 2P)) /
        (P (n - P)), where dW_k = the negative mass ranked below k minus the positive mass
        ranked above it; the variance is sum(p (1 - p) derivative^2)."""
        pos = self.p[self.order]
        neg = 1.0 - pos
        starts, sizes = self.starts, self.sizes
        group_pos = np.add.reduceat(pos, starts)
        group_neg = np.add.reduceat(neg, starts)
        positives = float(pos.sum())
        negatives = self.n - positives
        below = np.repeat(np.cumsum(group_neg) - group_neg, sizes)
        above = np.repeat(positives - np.cumsum(group_pos), sizes)
        # within a tie, the other rows count one half
        below += 0.5 * (np.repeat(group_neg, sizes) - neg)
        above += 0.5 * (np.repeat(group_pos, sizes) - pos)
        derivative = (below - above - auc * (negatives - positives)) / (positives * negatives)
        return float(np.sqrt(np.sum(pos * neg * derivative**2)))


def estimated_metrics(
    y_score: np.ndarray,
    names: Sequence[str],
    task: Task = "binary",
    threshold: float = 0.5,
    draws: int = 400,
    confidence: float = 0.95,
    seed: int = 0,
    large_sample_rows: int = LARGE_SAMPLE_ROWS,
) -> dict[str, MetricEstimate]:
    """Each of `names` (see `ESTIMABLE`) expected from the probabilities `y_score` (P(class 1),
    or a probability per class), with the interval of the value labels drawn from them show:
    from `draws` label sets (`DRAWN`), or on a large sample (`large_sample_rows`; see
    `_Expected.large_sample`) in closed form (`CLOSED_FORM`, no draws)."""
    unknown = [name for name in names if name not in ESTIMABLE.get(task, ())]
    if unknown:
        raise ValueError(f"{unknown[0]!r} cannot be estimated for a {task} model")
    expected = _Expected(y_score, task, threshold, "roc_auc" in names)
    p = expected.p
    point = {k: float(v[0]) for k, v in expected.metrics(p[None, :], names).items()}
    if expected.large_sample(large_sample_rows):
        z = float(stats.norm.ppf(0.5 + confidence / 2.0))
        errors = expected.standard_errors(point)
        return {
            name: MetricEstimate(
                name,
                point[name],
                max(0.0, point[name] - z * errors[name]),
                min(1.0, point[name] + z * errors[name]),
                0,
                CLOSED_FORM,
            )
            for name in names
        }
    rng = np.random.default_rng(seed)
    drawn: dict[str, list[np.ndarray]] = {name: [] for name in names}
    chunk = max(1, min(draws, _CHUNK_CELLS // max(expected.n, 1)))
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        labels = (rng.random((size, expected.n)) < p).astype(np.float64)
        for name, values in expected.metrics(labels, names).items():
            drawn[name].append(values)
    out = {}
    for name in names:
        low, high = _interval(np.concatenate(drawn[name]), confidence)
        out[name] = MetricEstimate(name, point[name], low, high, draws, DRAWN)
    return out


def realized_metrics(
    labels: np.ndarray,
    y_score: np.ndarray,
    names: Sequence[str],
    task: Task = "binary",
    threshold: float = 0.5,
) -> dict[str, float]:
    """The metrics `estimated_metrics` estimates, of the real `labels` (0/1, or class indices
    for a multiclass model): one sort of the scores, not the rows every metric of
    `mlcheck.stats.metrics` prepares."""
    expected = _Expected(y_score, task, threshold, "roc_auc" in names)
    y = np.asarray(labels)
    if task == "multiclass":
        right = (np.argmax(np.asarray(y_score), axis=1) == y).astype(np.float64)
    else:
        right = (y == 1).astype(np.float64)
    return {k: float(v[0]) for k, v in expected.metrics(right[None, :], names).items()}
