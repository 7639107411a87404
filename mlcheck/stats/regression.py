"""Regression rows: a predicted value per row, metrics as weighted sums.

MAE, RMSE, R² and MAPE are ratios of sums over rows; the quantiles of the absolute error
come from one cumulative sum of the weights over rows sorted by absolute error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlcheck.stats.catalogue import ERROR_QUANTILES

__all__ = ["RegressionRows", "constant_spread", "regression_from_sums"]


class RegressionRows:
    """Rows sorted by absolute error, then by target, with the columns the metrics sum over."""

    def __init__(self, y_true: np.ndarray, y_pred: np.ndarray, centre: float | None = None) -> None:
        y_true = np.asarray(y_true, dtype=np.float64)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        error = np.abs(y_pred - y_true)
        order = np.lexsort((y_true, error))
        y, e = y_true[order], error[order]
        self.order = order
        self.abs_error = e
        self.has_zero_target = bool((y == 0).any())
        # R² is shift-invariant; centring keeps its sums accurate (partitions share one centre)
        centred = y - (y.mean() if centre is None else centre)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(y != 0, e / np.abs(y), 0.0)
        self.columns = np.column_stack([e, e**2, centred, centred**2, relative, y == 0])
        largest = float(np.abs(y).max()) if len(y) else 0.0
        self._constant = constant_spread(float(np.mean(centred**2)) if len(y) else 0.0, largest)

    def metrics(self, weights: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each metric for each row of `weights` (shape: resamples x rows, in this order)."""
        out: dict[str, np.ndarray] = {}
        quantiles = [n for n in names if n in ERROR_QUANTILES]
        if quantiles:
            cumulative = np.cumsum(weights, axis=1)
            for name in quantiles:
                # the smallest error whose cumulative weight reaches the level (inverted CDF)
                level = ERROR_QUANTILES[name] * cumulative[:, -1] * (1 - 1e-12)
                index = [np.searchsorted(c, lv) for c, lv in zip(cumulative, level, strict=True)]
                out[name] = self.abs_error[np.minimum(index, len(self.abs_error) - 1)]
        rest = [n for n in names if n not in ERROR_QUANTILES]
        if not rest:
            return out
        return out | self.from_sums(weights @ self.columns, weights.sum(axis=1), rest)

    def from_sums(
        self, sums: np.ndarray, total: np.ndarray, names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        return regression_from_sums(sums, total, names, self._constant)


def constant_spread(mean_square: float, largest: float) -> float:
    """Below this spread per row, a resample's targets differ by rounding only: constant."""
    return 1e-12 * max(mean_square, (1e-6 * largest) ** 2, 1e-300)


def regression_from_sums(
    sums: np.ndarray, total: np.ndarray, names: Sequence[str], constant: float
) -> dict[str, np.ndarray]:
    """Every metric but the error quantiles from the weighted column sums (resamples x
    columns) and the total weight of each resample; `constant`: `constant_spread`."""
    out: dict[str, np.ndarray] = {}
    mae, sse, ys, yy, relative, zeros = sums.T
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in names:
            if name == "mae":
                out[name] = mae / total
            elif name == "rmse":
                out[name] = np.sqrt(sse / total)
            elif name == "r2":
                # scikit-learn's convention for a constant target: 1 if exact, else 0
                spread = yy - ys**2 / total
                flat = spread <= constant * total
                exact = np.where(sse <= 0, 1.0, 0.0)
                out[name] = np.where(flat, exact, 1.0 - sse / spread)
            elif name == "mape":  # undefined where a target is 0: the gate refuses it
                out[name] = np.where(zeros > 0, np.inf, relative / total)
            elif name not in ERROR_QUANTILES:
                raise KeyError(name)
    return out
