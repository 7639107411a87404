"""The data of one gate run, read once and on demand: the reference and current frames (or,
with --engine dask, their partitions' heads and samples), the label column, the schema and
the column kinds."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pandas as pd

from mlcheck.data.bank import TARGET
from mlcheck.data.capture import CAPTURE_COLUMNS
from mlcheck.data.io import read_table
from mlcheck.data.partitions import sample_partitions
from mlcheck.errors import ConfigError
from mlcheck.features import ColumnKind
from mlcheck.gates.drift import column_kinds
from mlcheck.probes.http import records_from_frame
from mlcheck.run.loads import Loads, timed
from mlcheck.run.model import RunModel
from mlcheck.run.spec import RunSpec
from mlcheck.schema import infer_schema, load_schema

__all__ = ["SAMPLE_ROWS", "Data"]

#: With --engine dask, schemas and column kinds are inferred from this many reference rows,
#: taken from every partition.
SAMPLE_ROWS = 1_000_000


class Data:
    """The run's reference and current data; each failure is an `MlcheckError` naming the
    option. The label column and the column kinds read the model's inputs (`run_model`)."""

    def __init__(self, spec: RunSpec, loads: Loads, run_model: RunModel) -> None:
        self.spec = spec
        self.loads = loads
        self.run_model = run_model

    @cached_property
    def target(self) -> str:
        """The label column: --target, else the policy's `[data] target`, else the one the
        model was trained with (mlcheck's metadata), else `y` for the demo, else the one
        reference (without one: current) column that is not a model input. "" when there is
        none: the data gates decide and the gates that need labels skip."""
        given = self.spec.options.target or self.spec.policy.target
        if given:
            return given
        uri = self.run_model.uri
        if self.spec.is_demo or uri is None:
            return TARGET
        info = self.run_model.model.info
        trained = ((info.metadata or {}).get("mlcheck") or {}).get("target")
        if trained:
            return str(trained)
        inputs = set(info.feature_names or ())
        if not inputs:
            return TARGET
        data = self.head("reference" if self.spec.has_reference else "current", 1)
        others = [str(c) for c in data.columns if c not in inputs]
        if len(others) > 1:
            raise ConfigError(
                f"the label column is not named and the data has {len(others)} "
                f"columns that are not inputs of model={uri!r} "
                f"({', '.join(others[:6])}); set --target NAME or [data] target in the policy"
            )
        return others[0] if others else ""

    @property
    def label_task(self) -> str:
        """The task the labels are read as where the model need not be scored (target drift):
        the model's or the requested task, else regression for a numeric target with many
        values and classes otherwise."""
        known = self.run_model.model.task if self.run_model.uri is not None else None
        if known or self.spec.requested_task != "auto":
            return known or self.spec.requested_task
        column = self.head("reference").get(self.target)
        if column is None or not pd.api.types.is_numeric_dtype(column):
            return "binary"
        return "regression" if column.nunique() > 20 else "binary"

    def _local_only(self, kind: str) -> None:
        if self.spec.engine == "dask":
            raise ConfigError(
                f"this gate needs the {kind} data's rows in memory, which --engine dask does "
                "not load; it runs with --engine local (on a sample that fits)"
            )

    def head(self, kind: str, rows: int | None = None) -> pd.DataFrame:
        """The first `rows` rows (None: all) of the reference or current data; with --engine
        dask, of its first partition, or (rows None) a sample of up to `SAMPLE_ROWS` rows from
        every partition: what the serving and latency gates send, and what schemas and column
        kinds are inferred from when nothing declares them."""
        if self.spec.engine != "dask":
            frame: pd.DataFrame = getattr(self, kind)
        elif rows is None:
            return sample_partitions(self.spec.partitions(kind), SAMPLE_ROWS, f"--{kind}")
        else:
            frame = read_table(self.first_partition(kind), f"--{kind}")
        return frame if rows is None else frame.head(rows)

    def first_partition(self, kind: str) -> str:
        return self.spec.partitions(kind)[0]

    @cached_property
    @timed
    def current(self) -> pd.DataFrame:
        """The current data; of a capture folder, the served rows' features (and labels)."""
        self._local_only("current")
        frame = read_table(self.spec.data_path("current"), "--current")
        if self.spec.current_is_capture:
            frame = frame.drop(columns=[c for c in CAPTURE_COLUMNS if c in frame.columns])
        return frame

    @cached_property
    @timed
    def reference(self) -> pd.DataFrame:
        self._local_only("reference")
        return read_table(self.spec.data_path("reference"), "--reference")

    @property
    def missing_labels(self) -> str:
        """Why the gates that need labels cannot decide on the current data, or "": served
        traffic has none until `mlcheck label` joins them (a file without its label column is
        an error instead: the run was set up wrong)."""
        if self.target and self.target in self.head("current", 1).columns:
            return ""
        folder = self.spec.data_path("current")
        if not self.target:
            return (
                f"no label column: the reference data has no column besides the inputs of "
                f"model={self.run_model.uri!r}; add the labels to --current and --reference and "
                "name them with --target NAME or [data] target"
            )
        if not self.spec.current_is_capture:
            return (
                f"--current={str(folder)!r} has no {self.target!r} column (labels); the data "
                f"gates decide without it, the quality gates once it is added (or set --target "
                "NAME or [data] target if the labels have another name)"
            )
        return (
            f"--current={str(folder)!r} is captured traffic without labels ({self.target!r}); "
            f"the quality gates decide once they are joined: mlcheck label --capture {folder} "
            f"--labels FILE --id-column request_id --target {self.target}"
        )

    @cached_property
    def schema(self) -> Any:
        """The policy's pandera schema, or one inferred from the reference data."""
        if self.spec.policy.schema.file is not None:
            return load_schema(self.spec.policy.schema.file)
        return infer_schema(self.head("reference"), self.target)

    @property
    def current_schema(self) -> Any:
        """The schema the current data is checked against: without the label column when the
        current data has none (the label is not an input)."""
        return self.without_absent_label(self.schema)

    def without_absent_label(self, schema: Any) -> Any:
        """`schema` without the label column when the current data has none."""
        target = self.target
        if target in schema.columns and target not in self.head("current", 1).columns:
            return schema.remove_columns([target])
        return schema

    @property
    def schema_inferred(self) -> bool:
        return self.spec.policy.schema.file is None

    @cached_property
    def kinds(self) -> dict[str, ColumnKind]:
        """numeric/categorical of each model input (drift methods are chosen by kind)."""
        features = self.run_model.model.info.features if self.run_model.uri is not None else None
        return column_kinds(features, self.head("reference"), exclude=[self.target])

    @cached_property
    def feature_names(self) -> list[str]:
        """The model's inputs: its signature's, else every current column but the label."""
        names = self.run_model.model.info.feature_names
        columns = self.head("current", 1).columns
        return list(names) if names else [c for c in columns if c != self.target]

    def records(self, rows: int) -> list[dict[str, Any]]:
        """The first `rows` current rows as JSON records of the model's features."""
        return records_from_frame(self.head("current", rows), self.feature_names)

    def columns(self, rows: int) -> dict[str, list[Any]]:
        """The first `rows` current rows as feature columns (what the serving core predicts on)."""
        head = self.head("current", rows)
        return {name: head[name].tolist() for name in self.feature_names}
