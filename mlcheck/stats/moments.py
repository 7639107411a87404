"""Row count, mean and co-moment matrix of columns, merged exactly across partitions.

Chan, Golub and LeVeque's pairwise update: two partitions' means and centred co-moments
combine without the cancellation of sum(x^2) - n * mean^2, so the merged covariance equals
the one of all rows at once to rounding, in any order of merging.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Moments"]


@dataclass(frozen=True)
class Moments:
    """`rows`, the column means and the centred co-moments sum((x - mean)(x - mean)^T)."""

    rows: int
    mean: np.ndarray
    comoment: np.ndarray

    @classmethod
    def of(cls, columns: np.ndarray) -> Moments:
        """The moments of a rows x columns matrix (a 1-d array is one column)."""
        values = np.asarray(columns, dtype=np.float64)
        values = values[:, None] if values.ndim == 1 else values
        if len(values) == 0:
            k = values.shape[1]
            return cls(0, np.zeros(k), np.zeros((k, k)))
        mean = values.mean(axis=0)
        centred = values - mean
        return cls(len(values), mean, centred.T @ centred)

    def merge(self, other: Moments) -> Moments:
        if other.rows == 0:
            return self
        if self.rows == 0:
            return other
        rows = self.rows + other.rows
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.rows / rows)
        extra = np.outer(delta, delta) * (self.rows * other.rows / rows)
        return Moments(rows, mean, self.comoment + other.comoment + extra)

    @property
    def covariance(self) -> np.ndarray:
        """Population covariance (ddof=0)."""
        return self.comoment / self.rows if self.rows else self.comoment

    @property
    def std(self) -> float:
        """Population std of a one-column `Moments`."""
        return float(np.sqrt(max(self.covariance[0, 0], 0.0)))
