"""The inputs of one gate run, loaded once and on demand: model, data, scores and schema.

What the run's options resolve to before anything loads (the data's paths, the engine, the
task asked for, the bundled demo) is the run's `RunSpec`.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from mlcheck.data.bank import TARGET
from mlcheck.data.capture import CAPTURE_COLUMNS
from mlcheck.data.io import read_table
from mlcheck.data.labels import regression_targets, task_labels
from mlcheck.data.partitions import parquet_rows, partition_files, sample_partitions
from mlcheck.engine.dask import DaskEngine, DataSummary, ModelSpec, SummarySpec, summarise
from mlcheck.errors import ConfigError, MlcheckError
from mlcheck.features import FeatureSpec
from mlcheck.gates.drift import column_kinds
from mlcheck.models.load import Predictor, load_model
from mlcheck.models.registry import version_of
from mlcheck.policy import Policy
from mlcheck.probes.http import records_from_frame
from mlcheck.probes.locust import LoadRun
from mlcheck.run.options import RunOptions
from mlcheck.run.spec import RunSpec
from mlcheck.schema import features_from_schema, infer_schema, load_schema, save_schema
from mlcheck.serving.codec import accepted_rows
from mlcheck.serving.config import ServingConfig
from mlcheck.stats.metrics import Rows, prepare_rows
from mlcheck.stats.tasks import Task, TaskChoice

__all__ = ["LOCUSTFILE", "GateInputs"]


#: The locustfile every load of a run uses, found through the package (any working directory).
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")


_T = TypeVar("_T")

#: With --engine dask, schemas and column kinds are inferred from this many reference rows,
#: taken from every partition.
SAMPLE_ROWS = 1_000_000


def _timed(load: Callable[[GateInputs], _T]) -> Callable[[GateInputs], _T]:
    """Record in `timings` the seconds `load` took, less the loads it set off (scoring the
    current data first reads it: that time is the read's, not the scoring's).

    A load that failed is not tried again in the run: every gate that needs it gets the same
    error at once (a registry that never answers, a Dask scheduler that refuses, would
    otherwise be waited on again by each gate)."""
    name = load.__name__

    @functools.wraps(load)
    def timed(self: GateInputs) -> _T:
        failed = self._failures.get(name)
        if failed is not None:
            raise failed.with_traceback(None)
        started, outer = time.perf_counter(), self._nested
        self._nested = 0.0
        try:
            return load(self)
        except MlcheckError as exc:
            self._failures[name] = exc
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.timings[name] = elapsed - self._nested
            self._nested = outer + elapsed

    return timed


class GateInputs:
    """Options resolved into loaded objects; each failure is an `MlcheckError` naming the option."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        #: Seconds each input took to load or compute (model, current, scores, ...).
        self.timings: dict[str, float] = {}
        self._failures: dict[str, MlcheckError] = {}  # loads that failed (see `_timed`)
        self._nested = 0.0
        #: How long work shows progress: `say(text, end)` (the pytest plugin shows it live).
        self.say: Callable[[str, str], None] | None = None
        #: The run's options resolved before anything loads: the model URI, the policy, the
        #: data's paths, the engine, the task asked for.
        self.spec = RunSpec(options)
        #: The model to gate (`RunSpec.model_uri`): None for a run on data alone.
        self.model_uri: str | None = self.spec.model_uri

    @property
    def policy(self) -> Policy:
        return self.spec.policy

    @cached_property
    def target(self) -> str:
        """The label column: --target, else the policy's `[data] target`, else the one the
        model was trained with (mlcheck's metadata), else `y` for the demo, else the one
        reference (without one: current) column that is not a model input. "" when there is
        none: the data gates decide and the gates that need labels skip."""
        given = self.options.target or self.policy.target
        if given:
            return given
        if self.spec.is_demo or self.model_uri is None:
            return TARGET
        info = self.model.info
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
                f"columns that are not inputs of model={self.model_uri!r} "
                f"({', '.join(others[:6])}); set --target NAME or [data] target in the policy"
            )
        return others[0] if others else ""

    @cached_property
    @_timed
    def model(self) -> Predictor:
        """The model, loaded once (a registry model is downloaded once)."""
        if self.model_uri is None:
            raise ConfigError(
                "--model is not given, so the gates that need a model cannot decide; pass "
                "--model URI (--mlcheck-model in pytest), or run only the data suites "
                "(suites/drift, suites/schema)"
            )
        return load_model(self.spec.model_location(self.model_uri), self.spec.requested_task)

    @property
    def label_task(self) -> str:
        """The task the labels are read as where the model need not be scored (target drift):
        the model's or the requested task, else regression for a numeric target with many
        values and classes otherwise."""
        known = self.model.task if self.model_uri is not None else None
        if known or self.spec.requested_task != "auto":
            return known or self.spec.requested_task
        column = self.head("reference").get(self.target)
        if column is None or not pd.api.types.is_numeric_dtype(column):
            return "binary"
        return "regression" if column.nunique() > 20 else "binary"

    @cached_property
    def task(self) -> Task:
        """binary, multiclass or regression: asked for, or what the model is; a model that
        cannot say (a plain pyfunc) is scored on the current data and its outputs decide."""
        if self.model.task is None and self.spec.engine == "dask":
            self._scores(self.model, self.head("current", 1000))  # the first outputs decide
        elif self.model.task is None:
            self.scores  # noqa: B018 - the first outputs set the task
        assert self.model.task is not None
        return self.model.task

    @cached_property
    @_timed
    def champion(self) -> Predictor | None:
        """The model to compare with: --champion, else NAME@champion for a models:/NAME@ALIAS.

        A champion that is not registered yet is None (the comparison is skipped); one that
        was asked for by name must load.
        """
        if self.options.champion:
            return load_model(self.spec.model_location(self.options.champion), self.task)
        match = re.match(r"^models:/([^/@]+)@([\w-]+)$", self.model_uri or "")
        if match is None or match.group(2) == "champion":
            return None
        try:
            version_of(match.group(1), "champion")
        except ConfigError:
            return None  # no champion yet: the absolute gates decide
        return load_model(f"models:/{match.group(1)}@champion", self.task)  # it must load

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
            files = partition_files(self.spec.data_location(kind), f"--{kind}")
            return sample_partitions(files, SAMPLE_ROWS, f"--{kind}")
        else:
            frame = read_table(self.first_partition(kind), f"--{kind}")
        return frame if rows is None else frame.head(rows)

    def first_partition(self, kind: str) -> str:
        return partition_files(self.spec.data_location(kind), f"--{kind}")[0]

    @cached_property
    @_timed
    def summary(self) -> DataSummary:
        """Both data sets' partitions summarised on a Dask cluster (--engine dask)."""
        files = {
            kind: partition_files(self.spec.data_location(kind), f"--{kind}")
            for kind in ("reference", "current")
        }
        model = None
        if self.model_uri is not None:
            info = self.model.info
            model = ModelSpec(
                path=str(info.path),
                task=self.task,
                classes=tuple(self.model.classes) if self.model.classes is not None else None,
                threshold=self.policy.quality.decision_threshold,
                features=tuple(self.feature_names),
            )
        centre = 0.0
        if self.label_task == "regression":
            head = self.head("current", 10_000)
            if self.target in head.columns:
                centre = float(pd.to_numeric(head[self.target], errors="coerce").mean())
        spec = SummarySpec(
            kinds=dict(self.kinds),
            target=self.target,
            label_task=self.label_task,
            model=model,
            schema=self.schema,
            centre=centre if np.isfinite(centre) else 0.0,
            gather=parquet_rows(files["current"], "--current")
            < self.policy.quality.bootstrap.large_sample_rows,
        )
        with DaskEngine(self.options.dask_scheduler, say=self.say) as engine:
            return summarise(engine, files["reference"], files["current"], spec)

    @cached_property
    @_timed
    def current(self) -> pd.DataFrame:
        """The current data; of a capture folder, the served rows' features (and labels)."""
        self._local_only("current")
        frame = read_table(self.spec.data_path("current"), "--current")
        if self.spec.current_is_capture:
            frame = frame.drop(columns=[c for c in CAPTURE_COLUMNS if c in frame.columns])
        return frame

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
                f"model={self.model_uri!r}; add the labels to --current and --reference and "
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
    @_timed
    def reference(self) -> pd.DataFrame:
        self._local_only("reference")
        return read_table(self.spec.data_path("reference"), "--reference")

    def _scores(self, model: Predictor, frame: pd.DataFrame) -> np.ndarray:
        return model.scores(frame.drop(columns=[self.target], errors="ignore"))

    @cached_property
    def labels(self) -> np.ndarray:
        """The current data's labels: class indices in the model's class order (0/1 for a
        binary model without class names), or the numeric target of a regressor."""
        if self.spec.engine == "dask":
            return self._gathered("labels")
        scores = self.scores
        count = scores.shape[1] if scores.ndim == 2 else 0
        return task_labels(
            self.current, self.target, self.task, self.model.classes, "current data", count
        )

    @cached_property
    def rows(self) -> Rows | None:
        """The current rows prepared once for the quality and slice gates (sorted by score,
        with the per-row columns their metrics sum); None when they cannot be (too few, or
        outputs that do not fit the task): the gates then prepare them and say why."""
        threshold = self.policy.quality.decision_threshold
        try:
            return prepare_rows(self.task, self.labels, self.scores, threshold)
        except ValueError:
            return None

    @cached_property
    def reference_mean(self) -> float:
        """The reference data's mean target: what the regression baseline gate predicts."""
        return float(regression_targets(self.reference, self.target, "reference data").mean())

    @cached_property
    @_timed
    def scores(self) -> np.ndarray:
        """The model's outputs for every current row: P(class 1), class probabilities or
        values, by task."""
        if self.spec.engine == "dask":
            return self._gathered("scores")
        return self._scores(self.model, self.current)

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
    @_timed
    def reference_scores(self) -> np.ndarray:
        """The model's outputs for every reference row (for prediction drift)."""
        return self._scores(self.model, self.reference)

    @cached_property
    @_timed
    def champion_scores(self) -> np.ndarray:
        """The champion's outputs for every current row; only asked for when it exists."""
        if self.champion is None:
            raise ConfigError("no champion to score; check inputs.champion first")
        champion, model = self.champion, self.model
        if champion.classes != model.classes:
            raise ConfigError(
                f"the champion {champion.info.uri!r} has the classes {champion.classes}, the "
                f"challenger {model.info.uri!r} {model.classes}; a paired comparison needs the "
                "same classes in the same order"
            )
        return self._scores(champion, self.current)

    @cached_property
    def schema(self) -> Any:
        """The policy's pandera schema, or one inferred from the reference data."""
        if self.policy.schema.file is not None:
            return load_schema(self.policy.schema.file)
        return infer_schema(self.head("reference"), self.target)

    @property
    def current_schema(self) -> Any:
        """The schema the current data is checked against: without the label column when the
        current data has none (the label is not an input)."""
        return self._without_absent_label(self.schema)

    def _without_absent_label(self, schema: Any) -> Any:
        target = self.target
        if target in schema.columns and target not in self.head("current", 1).columns:
            return schema.remove_columns([target])
        return schema

    @cached_property
    def serving_schema(self) -> Any | None:
        """The schema the model is served with: the one its data is gated on (the policy's,
        else the reference's). Without either, none: the model's signature alone decides what
        serving accepts; a model without a signature is served with the current data's."""
        if self.policy.schema.file is not None or self.spec.has_reference:
            return self.schema
        if self.model.info.features is not None:
            return None
        return infer_schema(self.head("current"), self.target)

    @property
    def schema_inferred(self) -> bool:
        return self.policy.schema.file is None

    @cached_property
    def feature_names(self) -> list[str]:
        names = self.model.info.feature_names
        columns = self.head("current", 1).columns
        return list(names) if names else [c for c in columns if c != self.target]

    def records(self, rows: int) -> list[dict[str, Any]]:
        """The first `rows` current rows as JSON records of the model's features."""
        return records_from_frame(self.head("current", rows), self.feature_names)

    def served_records(self, rows: int) -> tuple[list[int], list[dict[str, Any]]]:
        """Of the first `rows` current rows, those the serving core accepts: their positions
        and JSON records. A row it refuses (an unknown category, a value out of range) is the
        schema gate's to report, not a serving fault."""
        records = self.records(rows)
        keep = accepted_rows(records, self.served_features)
        return keep, [records[i] for i in keep]

    @cached_property
    def served_features(self) -> tuple[FeatureSpec, ...]:
        """The features requests are validated against: the model's, with the run's schema's
        categories, ranges and nullability (what `serving_config` serves with)."""
        exclude = (self.target,) if self.target else ()
        features = self.model.info.features
        if self.serving_schema is None:
            assert features is not None  # serving_schema is None only for a signed model
            return tuple(features)
        schema = self._without_absent_label(self.serving_schema)
        return features_from_schema(schema, features, exclude)

    def columns(self, rows: int) -> dict[str, list[Any]]:
        """The first `rows` current rows as feature columns (what the serving core predicts on)."""
        head = self.head("current", rows)
        return {name: head[name].tolist() for name in self.feature_names}

    def head_scores(self, rows: int) -> np.ndarray:
        """The model's outputs for the first `rows` current rows."""
        if self.spec.engine != "dask":
            return self.scores[:rows]
        return self._scores(self.model, self.head("current", rows))

    @cached_property
    def kinds(self) -> dict[str, str]:
        """numeric/categorical of each model input (drift methods are chosen by kind)."""
        features = self.model.info.features if self.model_uri is not None else None
        return column_kinds(features, self.head("reference"), exclude=[self.target])

    def serving_config(self) -> ServingConfig:
        """How the run serves its model: the loaded model's directory (not downloaded again),
        the policy's schema and decision threshold.

        The model is served with `serving_schema`, the schema its data is gated on: the
        policy's, else the one inferred from the reference data (saved to the report folder's
        `schema.yaml` for it), so serving accepts what the schema gate passes (missing values
        where the reference had them or the schema allows them) and refuses what it blocks.
        """
        return ServingConfig(
            model=self.model.info.path,
            schema=self._serving_schema_file,
            target=self.target,
            decision_threshold=self.policy.quality.decision_threshold,
            # a model that cannot say its task (a plain pyfunc) is not scored here for it:
            # the server decides from its first outputs, as the model would here (the task
            # asked for is one of TASK_CHOICES: the model loaded with it, `require_task`)
            task=self.model.task or cast("TaskChoice", self.spec.requested_task),
        )

    @cached_property
    def _serving_schema_file(self) -> str | None:
        """The file of `serving_schema`: the policy's, else the inferred one saved once to
        the report folder's `schema.yaml`; None when the model's signature alone decides."""
        schema = self.policy.schema.file
        if schema is None and self.serving_schema is not None:
            schema = save_schema(self.serving_schema, Path(self.options.report_dir) / "schema.yaml")
        return str(schema) if schema is not None else None

    def load_run(self, url: str, out_dir: Path) -> LoadRun:
        """The run's `[load]` against `url`, with the run's policy file, current rows, workers.

        The current data is read first, so unreadable data is the run's error (exit 2), not a
        locust that silently sends nothing.
        """
        self.head("current", 1)  # raises DataError naming the file
        source = Path(self.policy.source)
        current = self.spec.data_path("current")
        if self.spec.engine == "dask":  # the load sends rows of the first partition
            current = Path(self.first_partition("current"))
        return LoadRun(
            url=url,
            policy=self.policy.load,
            out_dir=out_dir,
            locustfile=LOCUSTFILE,
            policy_file=source if source.is_file() else None,
            current=current,
            workers=self.spec.load_workers,
        )

    def loaded(self, name: str) -> Any:
        """The input `name` (policy, model, reference, current, summary, schema, kinds, ...)
        if the run loaded it already, else None: reports never load anything."""
        return vars(self.spec if name == "policy" else self).get(name)

    def context(self) -> dict[str, Any]:
        """What the run was about, for report headers; never raises."""
        policy = self.loaded("policy")
        ctx: dict[str, Any] = {
            "model": self.model_uri or "none (data gates only)",
            "policy": policy.source if policy is not None else self.options.policy or "default",
        }
        for kind in ("reference", "current"):
            frame = self.loaded(kind)
            label = self.spec.data_label(kind)
            if label:
                ctx[kind] = f"{label} ({len(frame):,} rows)" if frame is not None else label
        summary = self.loaded("summary")
        if summary is not None:
            ctx["engine"] = f"dask ({summary.dashboard})" if summary.dashboard else "dask"
            ctx["dask"] = {
                "seconds": summary.seconds,
                "worker_peak_mib": summary.worker_peak_mib,
            }
            for kind in ("reference", "current"):
                rows = getattr(summary, f"{kind}_rows")
                parts = summary.partitions[kind]
                ctx[kind] = f"{self.spec.data_location(kind)} ({rows:,} rows, {parts} partitions)"
        model = self.loaded("model")
        if model is not None:
            ctx["flavor"] = model.info.flavor
            if model.task is not None:
                ctx["task"] = model.task
            ctx["model_version"] = model.info.version
            if model.info.features is None:
                ctx["inputs"] = "no signature: requests are validated with the schema"
        return ctx
