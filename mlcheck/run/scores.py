"""What the run's model says about its data, computed once and on demand: the task, the
current data's labels and scores (or, with --engine dask, the partitions' merged summaries),
the reference's scores for prediction drift, and the champion's for the paired comparison."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property

import numpy as np
import pandas as pd

from mlcheck.data.labels import regression_targets, task_labels
from mlcheck.data.partitions import parquet_rows
from mlcheck.engine.dask import DaskEngine, DataSummary, ModelSpec, SummarySpec, summarise
from mlcheck.errors import ConfigError
from mlcheck.models.load import Predictor, load_model
from mlcheck.models.registry import version_of
from mlcheck.run.data import Data
from mlcheck.run.loads import timed
from mlcheck.stats.metrics import Rows, prepare_rows
from mlcheck.stats.tasks import Task

__all__ = ["Scores"]


class Scores:
    """The run's model (`model`), the champion, and their outputs on the run's `data`."""

    def __init__(self, data: Data, say: Callable[[str, str], None] | None = None) -> None:
        self.data = data
        self.spec = data.spec
        self.loads = data.loads
        self.run_model = data.run_model
        #: How long work shows progress: `say(text, end)` (the pytest plugin shows it live).
        self.say = say

    @property
    def model(self) -> Predictor:
        """The model, loaded once (`RunModel.model`)."""
        return self.run_model.model

    @cached_property
    def task(self) -> Task:
        """binary, multiclass or regression: asked for, or what the model is; a model that
        cannot say (a plain pyfunc) is scored on the current data and its outputs decide."""
        if self.model.task is None and self.spec.engine == "dask":
            self._scores(self.model, self.data.head("current", 1000))  # the first outputs decide
        elif self.model.task is None:
            self.scores  # noqa: B018 - the first outputs set the task
        assert self.model.task is not None
        return self.model.task

    @cached_property
    @timed
    def champion(self) -> Predictor | None:
        """The model to compare with: --champion, else NAME@champion for a models:/NAME@ALIAS.

        A champion that is not registered yet is None (the comparison is skipped); one that
        was asked for by name must load.
        """
        if self.spec.options.champion:
            return load_model(self.spec.model_location(self.spec.options.champion), self.task)
        match = re.match(r"^models:/([^/@]+)@([\w-]+)$", self.run_model.uri or "")
        if match is None or match.group(2) == "champion":
            return None
        try:
            version_of(match.group(1), "champion")
        except ConfigError:
            return None  # no champion yet: the absolute gates decide
        return load_model(f"models:/{match.group(1)}@champion", self.task)  # it must load

    @cached_property
    @timed
    def summary(self) -> DataSummary:
        """Both data sets' partitions summarised on a Dask cluster (--engine dask)."""
        data, policy = self.data, self.spec.policy
        files = {kind: self.spec.partitions(kind) for kind in ("reference", "current")}
        model = None
        if self.run_model.uri is not None:
            model = ModelSpec(
                path=str(self.model.info.path),
                task=self.task,
                classes=tuple(self.model.classes) if self.model.classes is not None else None,
                threshold=policy.quality.decision_threshold,
                features=tuple(data.feature_names),
            )
        centre = 0.0
        if data.label_task == "regression":
            head = data.head("current", 10_000)
            if data.target in head.columns:
                centre = float(pd.to_numeric(head[data.target], errors="coerce").mean())
        spec = SummarySpec(
            kinds=dict(data.kinds),
            target=data.target,
            label_task=data.label_task,
            model=model,
            schema=data.schema,
            centre=centre if np.isfinite(centre) else 0.0,
            gather=parquet_rows(files["current"], "--current")
            < policy.quality.bootstrap.large_sample_rows,
        )
        with DaskEngine(self.spec.options.dask_scheduler, say=self.say) as engine:
            return summarise(engine, files["reference"], files["current"], spec)

    def _scores(self, model: Predictor, frame: pd.DataFrame) -> np.ndarray:
        return model.scores(frame.drop(columns=[self.data.target], errors="ignore"))

    @cached_property
    def labels(self) -> np.ndarray:
        """The current data's labels: class indices in the model's class order (0/1 for a
        binary model without class names), or the numeric target of a regressor."""
        if self.spec.engine == "dask":
            return self._gathered("labels")
        scores = self.scores
        count = scores.shape[1] if scores.ndim == 2 else 0
        return task_labels(
            self.data.current,
            self.data.target,
            self.task,
            self.model.classes,
            "current data",
            count,
        )

    @cached_property
    def rows(self) -> Rows | None:
        """The current rows prepared once for the quality and slice gates (sorted by score,
        with the per-row columns their metrics sum); None when they cannot be (too few, or
        outputs that do not fit the task): the gates then prepare them and say why."""
        threshold = self.spec.policy.quality.decision_threshold
        try:
            return prepare_rows(self.task, self.labels, self.scores, threshold)
        except ValueError:
            return None

    @cached_property
    def reference_mean(self) -> float:
        """The reference data's mean target: what the regression baseline gate predicts."""
        data = self.data
        return float(regression_targets(data.reference, data.target, "reference data").mean())

    @cached_property
    @timed
    def scores(self) -> np.ndarray:
        """The model's outputs for every current row: P(class 1), class probabilities or
        values, by task."""
        if self.spec.engine == "dask":
            return self._gathered("scores")
        return self._scores(self.model, self.data.current)

    def _gathered(self, name: str) -> np.ndarray:
        """The current labels or scores the Dask engine gathered (fewer rows than [quality]
        large_sample_rows); a larger data set is gated on its merged summaries instead."""
        values: np.ndarray | None = getattr(self.summary, name)
        if values is None:
            raise ConfigError(
                f"the current data's {name} are not gathered with --engine dask at "
                f"{self.summary.current_rows:,} rows (from [quality] large_sample_rows on); "
                "this gate runs with --engine local (on a sample that fits)"
            )
        return values

    @cached_property
    @timed
    def reference_scores(self) -> np.ndarray:
        """The model's outputs for every reference row (for prediction drift)."""
        return self._scores(self.model, self.data.reference)

    @cached_property
    @timed
    def champion_scores(self) -> np.ndarray:
        """The champion's outputs for every current row; only asked for when it exists."""
        if self.champion is None:
            raise ConfigError("no champion to score; check scores.champion first")
        champion, model = self.champion, self.model
        if champion.classes != model.classes:
            raise ConfigError(
                f"the champion {champion.info.uri!r} has the classes {champion.classes}, the "
                f"challenger {model.info.uri!r} {model.classes}; a paired comparison needs the "
                "same classes in the same order"
            )
        return self._scores(champion, self.data.current)

    def head_scores(self, rows: int) -> np.ndarray:
        """The model's outputs for the first `rows` current rows."""
        if self.spec.engine != "dask":
            return self.scores[:rows]
        return self._scores(self.model, self.data.head("current", rows))
