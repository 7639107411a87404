"""Binary classification rows: P(positive class) per row, metrics as weighted sums.

Rows are sorted by score once, which makes ROC AUC a cumulative sum over tie groups instead
of a sort per resample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ECE_BINS", "EPS", "BinaryRows", "RankedRows", "binary_from_sums", "tie_groups"]

ECE_BINS = 10
CALIBRATION_COLUMN = 6  # the first of the per-bin calibration gap columns
EPS = np.finfo(np.float64).eps


def tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """The first index of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


class RankedRows:
    """Rows sorted by score, negatives first within a tie: ROC AUC for any row weights.

    Exact with integer weights: the wins are sums of whole and half counts in float64.
    With few ties, AUC comes from one cumulative sum of the weights (the positives' pairs
    among themselves are subtracted in closed form, the tied pairs' half credit on the tied
    rows only); with many ties, from per-tie-group sums.
    """

    def __init__(self, sorted_scores: np.ndarray, positive: np.ndarray) -> None:
        self.positive = np.asarray(positive, dtype=np.float64)
        self.starts = tie_groups(sorted_scores)
        n = len(sorted_scores)
        self.by_group = len(self.starts) < n // 2
        sizes = np.diff(np.r_[self.starts, n])
        tied = sizes > 1
        self.tied_rows = np.flatnonzero(np.repeat(tied, sizes))
        self.tied_starts = np.r_[0, np.cumsum(sizes[tied])[:-1]].astype(np.int64)

    def placements(self) -> tuple[np.ndarray, np.ndarray]:
        """DeLong's placement values with unit weights: for each positive, the share of
        negatives it outranks; for each negative, the share of positives that outrank it
        (a tie counts one half). Their means are both the AUC."""
        n = len(self.positive)
        sizes = np.diff(np.r_[self.starts, n])
        positives = np.add.reduceat(self.positive, self.starts)
        negatives = sizes - positives
        total_pos, total_neg = positives.sum(), negatives.sum()
        if total_pos == 0 or total_neg == 0:
            return np.empty(0), np.empty(0)
        beaten = (np.cumsum(negatives) - negatives + 0.5 * negatives) / total_neg
        beating = (total_pos - np.cumsum(positives) + 0.5 * positives) / total_pos
        is_positive = self.positive > 0
        return (
            np.repeat(beaten, sizes)[is_positive],
            np.repeat(beating, sizes)[~is_positive],
        )

    def auc(self, weights: np.ndarray) -> np.ndarray:
        """ROC AUC per row of `weights` (in this sorted order); NaN without both classes."""
        weighted = weights * self.positive
        if self.by_group:
            positives = np.add.reduceat(weighted, self.starts, axis=1)
            negatives = np.add.reduceat(weights, self.starts, axis=1) - positives
            below = np.cumsum(negatives, axis=1) - negatives
            wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
            total_pos, total_neg = positives.sum(axis=1), negatives.sum(axis=1)
        else:
            # each positive row beats the weight below it, minus the positives below it
            # (over ordered pairs of positives: (P^2 - sum w^2) / 2), minus half of each
            # tie group's positive-negative pairs (negatives come first in a tie)
            cumulative = np.cumsum(weights, axis=1)
            total_pos = weighted.sum(axis=1)
            total_neg = cumulative[:, -1] - total_pos
            wins = (
                np.einsum("ij,ij->i", weighted, cumulative)
                - 0.5 * np.einsum("ij,ij->i", weighted, weighted)
                - 0.5 * total_pos**2
            )
            if len(self.tied_rows):
                tied = weights[:, self.tied_rows]
                pos = np.add.reduceat(tied * self.positive[self.tied_rows], self.tied_starts, 1)
                size = np.add.reduceat(tied, self.tied_starts, axis=1)
                wins -= 0.5 * np.einsum("ij,ij->i", pos, size - pos)
        pairs = total_pos * total_neg
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pairs > 0, wins / pairs, np.nan)


class BinaryRows:
    """Rows sorted by score, with the per-row columns every binary metric sums over."""

    def __init__(self, y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> None:
        # by score, then label: rows that tie on both are alike, so the input's row order
        # cannot change which rows a bootstrap resample draws
        order = np.lexsort((np.asarray(y_true), np.asarray(y_score)))
        y = np.asarray(y_true, dtype=np.float64)[order]
        p = np.asarray(y_score, dtype=np.float64)[order]
        # one matrix written in place: a column_stack of the columns made it 2-3x slower at
        # a million rows (a temporary per column, and the stack copied again)
        columns = np.zeros((len(p), CALIBRATION_COLUMN + ECE_BINS))
        predicted = (p >= threshold).astype(np.float64)
        columns[:, 0] = predicted == y  # correct
        np.multiply(predicted, y, out=columns[:, 1])  # tp
        np.multiply(predicted, 1 - y, out=columns[:, 2])  # fp
        np.multiply(1 - predicted, y, out=columns[:, 3])  # fn
        clipped = np.clip(p, EPS, 1.0 - EPS)
        columns[:, 4] = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))  # log loss
        gap = p - y
        columns[:, 5] = gap**2  # brier
        # 6..: the calibration gap in the row's probability bin, zero in the others
        bins = np.minimum((p * ECE_BINS).astype(np.int64), ECE_BINS - 1)
        columns[np.arange(len(p)), CALIBRATION_COLUMN + bins] = gap
        self.order = order
        self.y = y
        self.columns = columns
        self.ranked = RankedRows(p, y)

    def metrics(self, weights: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each metric for each row of `weights` (shape: resamples x rows, in sorted order)."""
        if set(names) <= {"roc_auc"}:  # AUC needs no column sums: skip the matrix product
            return {name: self.ranked.auc(weights) for name in names}
        out = self.from_sums(weights @ self.columns, weights.sum(axis=1), names)
        if "roc_auc" in names:
            out["roc_auc"] = self.ranked.auc(weights)
        return out

    def from_sums(
        self, sums: np.ndarray, total: np.ndarray, names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        return binary_from_sums(sums, total, names)


def binary_from_sums(
    sums: np.ndarray, total: np.ndarray, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Every metric but ROC AUC from the weighted column sums (resamples x columns) and
    the total weight of each resample."""
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
                out[name] = np.abs(sums[:, CALIBRATION_COLUMN:]).sum(axis=1) / total
            elif name != "roc_auc":
                raise KeyError(name)
    return out
