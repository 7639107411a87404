"""Latency percentiles: exact (numpy's linear interpolation over every sample), in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["percentiles_ms"]


def percentiles_ms(seconds: Sequence[float] | np.ndarray) -> dict[str, float]:
    """p50/p95/p99/mean/max in milliseconds of timings given in seconds; {} for no timings."""
    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    if values.size == 0:
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "mean_ms": float(values.mean()),
        "max_ms": float(values.max()),
        "samples": int(values.size),
    }
