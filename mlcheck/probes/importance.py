"""Permutation importance of each feature: how much the model's score drops when that
feature's values are shuffled (scikit-learn's `permutation_importance`), on a sample of rows.

SHAP values (which the systems mlcheck grew from tracked) need the `shap` package and a model
type it explains; permutation importance needs only the model's predictions, so it serves any
model mlcheck loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from mlcheck.data.labels import task_labels
from mlcheck.models.load import Predictor
from mlcheck.stats.metrics import metric_values

__all__ = ["METHOD", "Importance", "permutation_importances"]

METHOD = "permutation importance (scikit-learn)"


@dataclass(frozen=True)
class Importance:
    """Mean and standard deviation of each feature's score drop over the repeats."""

    mean: dict[str, float]
    std: dict[str, float]
    metric: str
    rows: int


class _Scored:
    """What `permutation_importance` needs of an estimator: something its scorer can use."""

    def __init__(self, model: Predictor, task: str, metric: str, threshold: float) -> None:
        self.model, self.task, self.metric, self.threshold = model, task, metric, threshold

    def fit(self, *_: Any) -> _Scored:  # never called: the model is fitted already
        return self

    def score(self, features: pd.DataFrame, labels: np.ndarray) -> float:
        scores = self.model.predict(features)
        values = metric_values(
            labels, scores, [self.metric], threshold=self.threshold, task=self.task
        )
        return float(values[self.metric][0])


def permutation_importances(
    model: Predictor,
    frame: pd.DataFrame,
    features: list[str],
    target: str,
    task: str,
    metric: str,
    rows: int,
    repeats: int,
    seed: int,
    threshold: float = 0.5,
    name: str = "data",
) -> Importance:
    """Each feature's permutation importance on (a seeded sample of at most `rows` of) the
    labelled `frame`, as the drop in `metric` (higher is better) when it is shuffled."""
    sample = frame.sample(n=rows, random_state=seed) if len(frame) > rows else frame
    sample = sample.reset_index(drop=True)
    scores = model.predict(sample[features].head(1))
    count = scores.shape[1] if np.ndim(scores) == 2 else 0
    labels = task_labels(sample, target, task, model.classes, name, count)
    scored = _Scored(model, task, metric, threshold)
    result = permutation_importance(
        scored,
        sample[features],
        labels,
        scoring=lambda estimator, x, y: estimator.score(x, y),
        n_repeats=repeats,
        random_state=seed,
        n_jobs=1,
    )
    return Importance(
        mean=dict(zip(features, map(float, result.importances_mean), strict=True)),
        std=dict(zip(features, map(float, result.importances_std), strict=True)),
        metric=metric,
        rows=len(sample),
    )
