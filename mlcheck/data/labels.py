"""The label column, checked and encoded for the task: class indices or numeric targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.errors import DataError
from mlcheck.stats.tasks import Task

__all__ = ["binary_labels", "class_indices", "regression_targets", "task_labels"]


def _column(frame: pd.DataFrame, target: str, data_name: str) -> pd.Series:
    if target not in frame.columns:
        raise DataError(
            f"target={target!r} is not a column of the {data_name}; its columns are "
            f"{', '.join(map(str, frame.columns))}. Pass --target (or --mlcheck-target)"
        )
    return frame[target]


def binary_labels(frame: pd.DataFrame, target: str, data_name: str) -> np.ndarray:
    """`frame[target]` as int64 0/1; `data_name` ("current data", ...) names the file in errors."""
    return class_indices(frame, target, (0, 1), data_name)


def class_indices(
    frame: pd.DataFrame, target: str, classes: Sequence[Any], data_name: str
) -> np.ndarray:
    """Each label's position in the model's `classes` (int64).

    Labels are matched by value, then by their text (a CSV reads `1` where the model knows
    `"1"`, or the reverse). A label the model never saw is a DataError naming it.
    """
    column = _column(frame, target, data_name)
    known = pd.Index(list(classes))
    codes = known.get_indexer(column)
    if (codes < 0).any():
        as_text = pd.Index([str(c) for c in classes])
        if as_text.is_unique:
            codes = np.where(codes < 0, as_text.get_indexer(pd.Index(column.astype(str))), codes)
    unknown = codes < 0
    if unknown.any():
        examples = pd.unique(column[unknown]).tolist()[:3]
        listed = ", ".join(repr(c) for c in list(classes)[:10])
        if tuple(classes) == (0, 1):
            raise DataError(
                f"target={target!r} must hold only 0 and 1; found values such as {examples} in "
                f"the {data_name}. Encode the positive class as 1"
            )
        raise DataError(
            f"target={target!r} holds {examples} in the {data_name}, a class the model never "
            f"saw (its classes: {listed}); retrain with every class, or drop those rows"
        )
    return codes.astype(np.int64)


def regression_targets(frame: pd.DataFrame, target: str, data_name: str) -> np.ndarray:
    """`frame[target]` as finite float64; a non-numeric or missing value is a DataError."""
    column = _column(frame, target, data_name)
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        examples = column[bad].head(3).tolist()
        raise DataError(
            f"target={target!r} must be numeric for a regressor; found {examples} in the "
            f"{data_name}. Fix or drop those rows, or set [data] task to a classification task"
        )
    return values


def task_labels(
    frame: pd.DataFrame,
    target: str,
    task: Task,
    classes: Sequence[Any] | None,
    data_name: str,
    class_count: int = 0,
) -> np.ndarray:
    """The labels of `task`: class indices for classifiers (0/1 for a binary model without
    class names), numbers for a regressor."""
    if task == "regression":
        return regression_targets(frame, target, data_name)
    if classes is None:
        classes = (0, 1) if task == "binary" else tuple(range(class_count))
    return class_indices(frame, target, classes, data_name)
