"""What the gates that run on either engine decide from: the current data's schema violations,
each model input reduced for the drift tests, the model's outputs and the labels as drift
members, the merged quality sketch when the rows are not gathered, and a seeded sample.

`FrameSummary` computes each from the frames in memory on first use; `PartitionSummary`
reads it off the Dask engine's merged `DataSummary`. Steps get the run's from
`engine_summary(scores)` and decide the same way from either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import pandas as pd

from mlcheck.data.partitions import parquet_rows
from mlcheck.engine.dask import sample_partitions_seeded
from mlcheck.errors import DataError, NotApplicable
from mlcheck.gates.drift import Member, frame_columns, prediction_member, target_member
from mlcheck.run.scores import Scores
from mlcheck.schema import ViolationGroup, violation_groups
from mlcheck.stats.catalogue import label_kind
from mlcheck.stats.drift import ColumnData
from mlcheck.stats.quality_sketch import QualitySketch

__all__ = ["EngineSummary", "FrameSummary", "PartitionSummary", "engine_summary"]


class EngineSummary(Protocol):
    """The summaries a gate decides from, whichever engine holds the data."""

    def schema_violations(self) -> tuple[list[ViolationGroup], int]:
        """The current data's schema violations grouped by column and check, and its rows."""
        ...

    def drift_columns(self) -> Mapping[str, ColumnData | str]:
        """Each model input of both data sets reduced for the drift tests, or why it cannot be."""
        ...

    def prediction(self) -> Member:
        """The model's outputs as a drift member (or why they cannot be compared)."""
        ...

    def target(self) -> Member | None:
        """The labels as a drift member; None when a side has none."""
        ...

    def quality_sketch(self) -> QualitySketch | None:
        """The merged quality sketch when the current rows are not gathered; None when they
        are (`Scores.labels` and `Scores.scores` hold them)."""
        ...

    def sample(self, kind: str, rows: int, seed: int) -> tuple[pd.DataFrame, int]:
        """The rows `DataFrame.sample(n=rows, random_state=seed)` would draw from the reference
        or current data (all of it, for the probe to sample, in memory), and its row count."""
        ...


class FrameSummary:
    """The summaries of the frames in memory (--engine local)."""

    def __init__(self, scores: Scores) -> None:
        self.scores = scores
        self.data = scores.data

    def schema_violations(self) -> tuple[list[ViolationGroup], int]:
        current = self.data.current
        return violation_groups(current, self.data.current_schema), len(current)

    def drift_columns(self) -> Mapping[str, ColumnData | str]:
        return frame_columns(self.data.reference, self.data.current, self.data.kinds)

    def prediction(self) -> Member:
        scores = self.scores
        try:
            return prediction_member(scores.reference_scores, scores.scores, scores.task)
        except DataError as exc:
            return str(exc), "numeric"

    def target(self) -> Member | None:
        data = self.data
        return target_member(data.reference, data.current, data.target, data.label_task)

    def quality_sketch(self) -> QualitySketch | None:
        return None  # the rows are in memory

    def sample(self, kind: str, rows: int, seed: int) -> tuple[pd.DataFrame, int]:
        frame: pd.DataFrame = getattr(self.data, kind)
        return frame, len(frame)  # the probe draws the sample


class PartitionSummary:
    """The summaries the Dask engine merged from the partitions (--engine dask)."""

    def __init__(self, scores: Scores) -> None:
        self.scores = scores
        self.data = scores.data

    def schema_violations(self) -> tuple[list[ViolationGroup], int]:
        summary = self.scores.summary
        return summary.schema_groups, summary.current_rows

    def drift_columns(self) -> Mapping[str, ColumnData | str]:
        return self.scores.summary.drift

    def prediction(self) -> Member:
        summary = self.scores.summary
        scored = summary.prediction
        why = "the partitions gave no model outputs"
        return (scored if scored is not None else why), summary.prediction_kind

    def target(self) -> Member | None:
        labels = self.scores.summary.target
        return (labels, label_kind(self.data.label_task)) if labels is not None else None

    def quality_sketch(self) -> QualitySketch | None:
        summary = self.scores.summary
        if summary.quality is None:
            raise NotApplicable(f"the current partitions have no {self.data.target!r} labels")
        return summary.quality if summary.scores is None else None  # None: rows gathered

    def sample(self, kind: str, rows: int, seed: int) -> tuple[pd.DataFrame, int]:
        files = self.data.spec.partitions(kind)
        return sample_partitions_seeded(files, rows, seed), parquet_rows(files, f"--{kind}")


def engine_summary(scores: Scores) -> EngineSummary:
    """The summaries of the run's engine: the partitions' with --engine dask, else the frames'."""
    return PartitionSummary(scores) if scores.spec.engine == "dask" else FrameSummary(scores)
