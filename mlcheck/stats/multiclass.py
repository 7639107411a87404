"""Multiclass classification rows: class probabilities per row, metrics as weighted sums.

Labels are class indices 0..K-1 (the columns of the probability matrix). Per-class counts
(true positives, predicted, support) are sums over rows, so accuracy, macro and weighted F1
and per-class precision and recall need one matrix product per batch of resamples. The
one-vs-rest ROC AUC sorts the rows once per class.

Like scikit-learn, macro and weighted averages run over the classes present in the labels or
the predictions of the (resampled) rows; a class absent from both is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlcheck.stats.binary import ECE_BINS, EPS, RankedRows

__all__ = ["MulticlassRows", "class_counts", "class_scores", "multiclass_from_sums"]


def class_scores(
    tp: np.ndarray, predicted: np.ndarray, support: np.ndarray
) -> dict[str, np.ndarray]:
    """precision, recall and f1 per class from the counts (0 where undefined, as
    scikit-learn's zero_division=0), with the support and predicted counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "precision": np.where(predicted > 0, tp / predicted, 0.0),
            "recall": np.where(support > 0, tp / support, 0.0),
            "f1": np.where(predicted + support > 0, 2 * tp / (predicted + support), 0.0),
            "support": support,
            "predicted": predicted,
        }


def class_counts(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """precision, recall, f1 and support per class (the probability matrix's columns) on
    all rows: counts only, without the rankings a `MulticlassRows` prepares."""
    k = probabilities.shape[1]
    y = np.asarray(y_true, dtype=np.int64)
    predicted = np.argmax(probabilities, axis=1)
    return class_scores(
        np.bincount(y[predicted == y], minlength=k).astype(np.float64),
        np.bincount(predicted, minlength=k).astype(np.float64),
        np.bincount(y, minlength=k).astype(np.float64),
    )


class MulticlassRows:
    """Rows in a canonical order, with the per-row columns every multiclass metric sums over."""

    def __init__(self, y_true: np.ndarray, probabilities: np.ndarray) -> None:
        y_true = np.asarray(y_true, dtype=np.int64)
        probabilities = np.asarray(probabilities, dtype=np.float64)
        k = probabilities.shape[1]
        # by label, then by each probability: row order in the input cannot change a resample
        order = np.lexsort((y_true, *probabilities.T[::-1]))
        y, p = y_true[order], probabilities[order]
        n = len(y)
        onehot = np.zeros((n, k))
        onehot[np.arange(n), y] = 1.0
        predicted = np.argmax(p, axis=1)
        predicted_onehot = np.zeros((n, k))
        predicted_onehot[np.arange(n), predicted] = 1.0
        correct = (predicted == y).astype(np.float64)
        confidence = p[np.arange(n), predicted]
        bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
        calibration = np.zeros((n, ECE_BINS))
        calibration[np.arange(n), bins] = confidence - correct
        self.k = k
        self.order = order
        self.columns = np.column_stack(
            [
                correct,  # 0 correct
                -np.log(np.clip(p[np.arange(n), y], EPS, 1.0)),  # 1 log loss
                ((p - onehot) ** 2).sum(axis=1),  # 2 brier
                onehot * predicted_onehot,  # 3 .. 3+k: true positives per class
                predicted_onehot,  # predicted per class
                onehot,  # support per class
                calibration,  # calibration gap per confidence bin
            ]
        )
        # one-vs-rest AUC: per class, the permutation sorting this order by its probability
        # (the class's rows last within a tie), and the rows ranked that way
        self._by_class = []
        for c in range(k):
            perm = np.lexsort((onehot[:, c], p[:, c]))
            self._by_class.append((perm, RankedRows(p[perm, c], onehot[perm, c])))

    def _auc(self, weights: np.ndarray) -> np.ndarray:
        """Macro one-vs-rest AUC over the classes defined in each resample (NaN if none)."""
        per_class = np.column_stack(
            [ranked.auc(weights[:, perm]) for perm, ranked in self._by_class]
        )
        defined = ~np.isnan(per_class)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                defined.any(axis=1),
                np.where(defined, per_class, 0.0).sum(axis=1) / defined.sum(axis=1),
                np.nan,
            )

    def metrics(self, weights: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each metric for each row of `weights` (shape: resamples x rows, in this order)."""
        out: dict[str, np.ndarray] = {}
        if "roc_auc" in names:
            out["roc_auc"] = self._auc(weights)
            if set(names) == {"roc_auc"}:
                return out
        return out | self.from_sums(weights @ self.columns, weights.sum(axis=1), names)

    def from_sums(
        self, sums: np.ndarray, total: np.ndarray, names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        return multiclass_from_sums(sums, total, names, self.k)


def multiclass_from_sums(
    sums: np.ndarray, total: np.ndarray, names: Sequence[str], k: int
) -> dict[str, np.ndarray]:
    """Every metric but ROC AUC from the weighted column sums (resamples x columns) and
    the total weight of each resample; `k` classes."""
    out: dict[str, np.ndarray] = {}
    tp, predicted, support = np.split(sums[:, 3 : 3 + 3 * k], 3, axis=1)
    classes = class_scores(tp, predicted, support)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in names:
            if name == "accuracy":
                out[name] = sums[:, 0] / total
            elif name == "log_loss":
                out[name] = sums[:, 1] / total
            elif name == "brier":
                out[name] = sums[:, 2] / total
            elif name == "calibration_error":
                out[name] = np.abs(sums[:, 3 + 3 * k :]).sum(axis=1) / total
            elif name in ("f1_macro", "precision_macro", "recall_macro"):
                values = classes[name.removesuffix("_macro")]
                present = (classes["support"] + classes["predicted"]) > 0
                out[name] = (values * present).sum(axis=1) / present.sum(axis=1)
            elif name == "f1_weighted":
                support = classes["support"]
                out[name] = (classes["f1"] * support).sum(axis=1) / support.sum(axis=1)
            elif name == "recall_min":  # the worst class among those in the labels
                seen = classes["support"] > 0
                out[name] = np.where(seen, classes["recall"], np.inf).min(axis=1)
            elif name == "precision_min":  # the worst class among those predicted
                predicted = classes["predicted"] > 0
                out[name] = np.where(predicted, classes["precision"], np.inf).min(axis=1)
            elif name != "roc_auc":
                raise KeyError(name)
    return out
