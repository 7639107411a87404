"""Classification metrics estimated from the model's own probabilities, before labels arrive.

Confidence-based performance estimation (NannyML's CBPE): if the model is calibrated, a row
scored p is positive with probability p, so the confusion matrix the labels will show has the
expected counts E[TP] = sum(p over rows predicted positive), E[FP] = sum(1 - p over them), and
so on; the metrics are those counts' ratios. ROC AUC is the AUC with each row counted as p of
a positive and 1 - p of a negative. The interval is the spread of the metric over label sets
drawn from the probabilities (`draws` times): what the labels could show, given calibration.

Valid while the model stays calibrated on the current data: a shift in the inputs (covariate
shift) or in the class balance the model's probabilities follow is estimated well; a change in
how labels follow inputs (concept drift) leaves the probabilities unchanged and is invisible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from mlcheck.stats.binary import binary_from_sums
from mlcheck.stats.metrics import MetricEstimate, _interval

__all__ = ["ESTIMABLE", "estimated_metrics"]

#: The metrics estimated per task (regression has no probabilities to estimate from).
ESTIMABLE = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy",),
}
_CHUNK_CELLS = 4_000_000  # draws x rows per chunk of simulated labels


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


def estimated_metrics(
    y_score: np.ndarray,
    names: Sequence[str],
    task: str = "binary",
    threshold: float = 0.5,
    draws: int = 400,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MetricEstimate]:
    """Each of `names` (see `ESTIMABLE`) expected from the probabilities `y_score` (P(class 1),
    or a probability per class), with the interval of the value labels drawn from them show."""
    unknown = [name for name in names if name not in ESTIMABLE.get(task, ())]
    if unknown:
        raise ValueError(f"{unknown[0]!r} cannot be estimated for a {task} model")
    scores = np.asarray(y_score, dtype=np.float64)
    if task == "multiclass":
        chosen = np.argmax(scores, axis=1)
        p = scores[np.arange(len(scores)), chosen]  # P(the predicted class is right)
        predicted = np.ones(len(p))
    else:
        p = scores
        predicted = (p >= threshold).astype(np.float64)
    n = len(p)
    ranks = stats.rankdata(p) if "roc_auc" in names else np.empty(0)

    def metrics(labels: np.ndarray) -> dict[str, np.ndarray]:
        """The metrics of label matrices (draws x rows; fractional for the expectation)."""
        if task == "multiclass":
            return {"accuracy": labels.sum(axis=-1) / n}
        tp = labels @ predicted
        fn = labels.sum(axis=-1) - tp
        fp = predicted.sum() - tp
        correct = n - fp - fn
        sums = np.column_stack([correct, tp, fp, fn])
        out = binary_from_sums(sums, np.full(len(sums), float(n)), names)
        if "roc_auc" in names:
            out["roc_auc"] = _auc(labels, ranks, n)
        return out

    point = {k: float(v[0]) for k, v in metrics(p[None, :]).items()}
    rng = np.random.default_rng(seed)
    drawn: dict[str, list[np.ndarray]] = {name: [] for name in names}
    chunk = max(1, min(draws, _CHUNK_CELLS // max(n, 1)))
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        labels = (rng.random((size, n)) < p).astype(np.float64)
        for name, values in metrics(labels).items():
            drawn[name].append(values)
    out = {}
    for name in names:
        low, high = _interval(np.concatenate(drawn[name]), confidence)
        out[name] = MetricEstimate(name, point[name], low, high, draws, "confidence-based")
    return out
