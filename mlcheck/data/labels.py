"""The binary label column: present, and holding only 0 and 1."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcheck.errors import DataError

__all__ = ["binary_labels"]


def binary_labels(frame: pd.DataFrame, target: str, data_name: str) -> np.ndarray:
    """`frame[target]` as int64 0/1; `data_name` ("current data", ...) names the file in errors."""
    if target not in frame.columns:
        raise DataError(
            f"target={target!r} is not a column of the {data_name}; its columns are "
            f"{', '.join(map(str, frame.columns))}. Pass --target (or --mlcheck-target)"
        )
    labels = pd.to_numeric(frame[target], errors="coerce")
    bad = labels.isna() | ~labels.isin([0, 1])
    if bad.any():
        examples = frame.loc[bad, target].head(3).tolist()
        raise DataError(
            f"target={target!r} must hold only 0 and 1; found values such as {examples} in the "
            f"{data_name}. Encode the positive class as 1"
        )
    return labels.to_numpy(dtype=np.int64)
