"""Binary classification rows: P(positive class) per row, metrics as weighted sums.

Rows are sorted by score once, which makes ROC AUC a cumulative sum over tie groups instead
of a sort per resample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ECE_BINS", "EPS", "BinaryRows", "weighted_auc"]

ECE_BINS = 10
EPS = np.finfo(np.float64).eps


def weighted_auc(weights: np.ndarray, positive: np.ndarray, group_starts: np.ndarray) -> np.ndarray:
    """ROC AUC per row of `weights`, for rows sorted by score; ties count one half.

    `positive` is 0/1 per (sorted) row, `group_starts` the first row of each run of equal
    scores. NaN where a row of weights holds no positive or no negative.
    """
    positives = np.add.reduceat(weights * positive, group_starts, axis=1)
    negatives = np.add.reduceat(weights, group_starts, axis=1) - positives
    below = np.cumsum(negatives, axis=1) - negatives
    wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """The first index of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


class BinaryRows:
    """Rows sorted by score, with the per-row columns every binary metric sums over."""

    def __init__(self, y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> None:
        # by score, then label: rows that tie on both are alike, so the input's row order
        # cannot change which rows a bootstrap resample draws
        order = np.lexsort((np.asarray(y_true), np.asarray(y_score)))
        y = np.asarray(y_true, dtype=np.float64)[order]
        p = np.asarray(y_score, dtype=np.float64)[order]
        predicted = (p >= threshold).astype(np.float64)
        clipped = np.clip(p, EPS, 1.0 - EPS)
        bins = np.minimum((p * ECE_BINS).astype(np.int64), ECE_BINS - 1)
        onehot = np.zeros((len(p), ECE_BINS))
        onehot[np.arange(len(p)), bins] = 1.0
        self.order = order
        self.y = y
        self.columns = np.column_stack(
            [
                predicted == y,  # 0 correct
                predicted * y,  # 1 tp
                predicted * (1 - y),  # 2 fp
                (1 - predicted) * y,  # 3 fn
                -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)),  # 4 log loss
                (p - y) ** 2,  # 5 brier
                onehot * (p - y)[:, None],  # 6.. calibration gap per bin
            ]
        ).astype(np.float64)
        self.group_starts = tie_groups(p)

    def metrics(self, weights: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each metric for each row of `weights` (shape: resamples x rows, in sorted order)."""
        if set(names) <= {"roc_auc"}:  # AUC needs no column sums: skip the matrix product
            return {name: weighted_auc(weights, self.y, self.group_starts) for name in names}
        sums = weights @ self.columns
        total = weights.sum(axis=1)
        correct, tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            out: dict[str, np.ndarray] = {}
            for name in names:
                if name == "accuracy":
                    out[name] = correct / total
                elif name == "precision":
                    out[name] = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
                elif name == "recall":
                    out[name] = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
                elif name == "f1":
                    out[name] = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
                elif name == "log_loss":
                    out[name] = sums[:, 4] / total
                elif name == "brier":
                    out[name] = sums[:, 5] / total
                elif name == "calibration_error":
                    out[name] = np.abs(sums[:, 6:]).sum(axis=1) / total
                elif name == "roc_auc":
                    out[name] = weighted_auc(weights, self.y, self.group_starts)
                else:
                    raise KeyError(name)
        return out
