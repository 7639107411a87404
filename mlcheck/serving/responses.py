"""What `/predict` answers for each task, and what the serving metrics count of it.

binary: `{"class": label, "probability": P(class 1)}`; multiclass: `{"class": label,
"probabilities": {label: p, ...}}` in the model's class order; regression: `{"value": x}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlcheck.stats.tasks import Task

__all__ = ["Answer", "answer", "class_labels"]


def _plain(value: Any) -> Any:
    """A JSON-ready label: numpy scalars become Python ones."""
    return value.item() if hasattr(value, "item") else value


def class_labels(task: Task, classes: Sequence[Any] | None, width: int = 2) -> list[Any] | None:
    """The labels a classifier answers with: its classes, else 0..K-1 (None for a regressor)."""
    if task == "regression":
        return None
    if classes is not None:
        return [_plain(c) for c in classes]
    return list(range(2 if task == "binary" else width))


@dataclass(frozen=True)
class Answer:
    """The predictions of one request and what the metrics record of them."""

    predictions: list[dict[str, Any]]
    classes: list[str]  # the predicted class of each row, as a metric label ([] for values)
    confidence: np.ndarray  # the predicted class's probability per row (empty for values)
    values: np.ndarray  # the predicted values (empty for classifiers)


def answer(
    task: Task, outputs: np.ndarray, classes: Sequence[Any] | None, threshold: float
) -> Answer:
    """The predictions for `outputs` (P(class 1), class probabilities or values)."""
    empty = np.empty(0)
    if task == "regression":
        values = np.asarray(outputs, dtype=np.float64)
        return Answer([{"value": float(v)} for v in values], [], empty, values)
    if task == "binary":
        labels = class_labels(task, classes) or [0, 1]
        positive = outputs >= threshold
        chosen = [labels[1] if p else labels[0] for p in positive]
        return Answer(
            [{"class": c, "probability": float(p)} for c, p in zip(chosen, outputs, strict=True)],
            [str(c) for c in chosen],
            np.where(positive, outputs, 1.0 - outputs),
            empty,
        )
    labels = class_labels(task, classes, outputs.shape[1]) or []
    keys = [str(label) for label in labels]
    best = np.argmax(outputs, axis=1)
    predictions = [
        {"class": labels[b], "probabilities": dict(zip(keys, map(float, row), strict=True))}
        for b, row in zip(best, outputs, strict=True)
    ]
    return Answer(predictions, [keys[b] for b in best], outputs[np.arange(len(best)), best], empty)
