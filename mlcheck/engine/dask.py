"""The gates' summaries of partitioned data, computed on a Dask cluster.

Every Parquet partition of both frames is read by a worker and reduced to the mergeable
summaries of `mlcheck.stats` (drift sketches, the quality sketch of the model's outputs, the
schema's violations); the client merges them and the gates decide once, on the same code the
in-memory engine uses. A second pass counts the rows of the numeric columns with too many
distinct values per fine bin. Each partition is scored once: its model outputs stay on its
worker for both passes (8 bytes a row for a binary model), the only per-row data kept; a
worker otherwise needs memory for one partition at a time.

The cluster is the user's (`--dask-scheduler tcp://HOST:8786`) or a `LocalCluster` of worker
processes started and stopped for the run. A worker lost mid-run fails the run (exit 2): the
scheduler is told to give up on a task at once rather than retry it on the next worker.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from mlcheck.data.labels import task_labels
from mlcheck.data.partitions import parquet_rows
from mlcheck.errors import DataError, InfrastructureError
from mlcheck.extras import require
from mlcheck.features import ColumnKind
from mlcheck.models.load import Predictor, load_model
from mlcheck.schema import ViolationGroup, merge_violation_groups, violation_groups
from mlcheck.stats.catalogue import label_kind, output_kind
from mlcheck.stats.drift import ColumnData
from mlcheck.stats.quality_sketch import QualitySketch
from mlcheck.stats.sketch import (
    BinCounts,
    BinPlan,
    NumericSketch,
    Sketch,
    bin_counts,
    bin_plan,
    merged_column,
    sketch,
)
from mlcheck.stats.tasks import Task

__all__ = [
    "DASK_SKIPS",
    "DaskEngine",
    "DataSummary",
    "ModelSpec",
    "SummarySpec",
    "sample_partitions_seeded",
    "summarise",
]

#: The pseudo-columns of the model's outputs and of the label among a frame's sketches.
PREDICTION = "\0prediction"
TARGET = "\0target"

_T = TypeVar("_T")

_IN_MEMORY = "; gate a sample that fits in memory with --engine local for it"
#: Why a gate does not decide with --engine dask (each needs the rows together).
DASK_SKIPS = {
    "slices": "slice gates are not computed over partitions yet" + _IN_MEMORY,
    "compare": "the paired champion comparison is not computed over partitions yet" + _IN_MEMORY,
    "baseline": "the regression baseline gate is not computed over partitions yet" + _IN_MEMORY,
    "data_quality": "data-quality rates are not computed over partitions yet" + _IN_MEMORY,
    "estimated": "estimated quality is not computed over partitions yet" + _IN_MEMORY,
}


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to score a partition: the model's local path (or URI) and task."""

    path: str
    task: Task
    classes: tuple[Any, ...] | None
    threshold: float
    features: tuple[str, ...] | None


@dataclass(frozen=True)
class SummarySpec:
    """What to summarise: drift columns and their kinds, the label, the model, the schema."""

    kinds: Mapping[str, ColumnKind]
    target: str
    label_task: str  # how the label drifts: regression = numeric, else categorical
    model: ModelSpec | None = None
    schema: Any = None  # a pandera DataFrameSchema for the current partitions
    centre: float = 0.0  # regression targets are centred on it in every partition
    #: Gather the current labels and scores (fewer rows than the policy's [quality]
    #: large_sample_rows): the quality gates then bootstrap them exactly as in memory.
    gather: bool = False


@dataclass
class DataSummary:
    """The merged summaries the gates decide on."""

    reference_rows: int
    current_rows: int
    partitions: dict[str, int]
    drift: dict[str, ColumnData | str]  # a column, or why it cannot be compared
    prediction: ColumnData | None = None
    prediction_kind: ColumnKind = "numeric"
    target: ColumnData | str | None = None
    quality: QualitySketch | None = None
    #: The current labels and scores, when `SummarySpec.gather` asked for them.
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None
    schema_groups: list[ViolationGroup] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    dashboard: str = ""
    worker_peak_mib: dict[str, float] = field(default_factory=dict)


@functools.lru_cache(maxsize=2)
def _model(path: str, task: Task) -> Predictor:
    """The model, loaded once per worker process."""
    return load_model(path, task)


def _scores(spec: ModelSpec, frame: pd.DataFrame, target: str, name: str) -> np.ndarray:
    model = _model(spec.path, spec.task)
    features = frame.drop(columns=[target], errors="ignore")
    if spec.features:
        features = features[[c for c in spec.features if c in features.columns]]
    return model.scores(features, f"partition {name!r}")


def _prediction(spec: ModelSpec, scores: np.ndarray) -> tuple[pd.Series, ColumnKind]:
    if output_kind(spec.task) == "categorical":
        return pd.Series(np.argmax(scores, axis=1).astype(str)), "categorical"
    return pd.Series(scores), "numeric"


def _label(frame: pd.DataFrame, target: str, label_task: str) -> tuple[pd.Series, ColumnKind]:
    if label_kind(label_task) == "numeric":
        return pd.to_numeric(frame[target], errors="coerce"), "numeric"
    return frame[target].astype(str), "categorical"


def _read(path: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"partition {path!r} could not be read: {exc}") from exc


#: Up to this many rows, `sample_partitions_seeded` draws pandas' sample (8 bytes a row).
EXACT_SAMPLE_ROWS = 50_000_000


def sample_partitions_seeded(files: Sequence[str], rows: int, seed: int) -> pd.DataFrame:
    """The rows `DataFrame.sample(n=rows, random_state=seed)` draws from the partitions
    `files` read as one frame (all of them when there are no more than `rows`), in its
    order, reading one partition at a time: --engine local's sample, without the data in
    memory. Past `EXACT_SAMPLE_ROWS` rows (more than a frame in memory holds) pandas' draw,
    which shuffles every row number, gives way to numpy's that keeps only the rows drawn."""
    counts = [parquet_rows([name]) for name in files]
    total = sum(counts)
    if total <= rows:
        chosen = np.arange(total)
    elif total <= EXACT_SAMPLE_ROWS:
        chosen = np.random.RandomState(seed).choice(total, size=rows, replace=False)
    else:
        chosen = np.random.default_rng(seed).choice(total, size=rows, replace=False)
    starts = np.cumsum([0, *counts])
    owner = np.searchsorted(starts, chosen, side="right") - 1
    parts = []
    for i, name in enumerate(files):
        places = np.flatnonzero(owner == i)
        if len(places):
            part = _read(name).iloc[chosen[places] - starts[i]]
            parts.append(part.set_axis(places))
    return pd.concat(parts).sort_index().reset_index(drop=True) if parts else pd.DataFrame()


def _columns(
    frame: pd.DataFrame, spec: SummarySpec, scores: np.ndarray | None
) -> dict[str, tuple[pd.Series, ColumnKind]]:
    """The series a partition is summarised over, by name, with their kinds."""
    out = {c: (frame[c], k) for c, k in spec.kinds.items() if c in frame.columns}
    if spec.target in frame.columns:
        out[TARGET] = _label(frame, spec.target, spec.label_task)
    if spec.model is not None and scores is not None:
        out[PREDICTION] = _prediction(spec.model, scores)
    return out


def score_partition(path: str, spec: SummarySpec) -> np.ndarray | None:
    """The model's outputs for one partition, kept on its worker for both passes."""
    if spec.model is None:
        return None
    return _scores(spec.model, _read(path), spec.target, path)


def first_pass(
    path: str, frame_kind: str, spec: SummarySpec, scores: np.ndarray | None
) -> dict[str, Any]:
    """One partition's sketches (and, of the current data, quality and schema violations)."""
    frame = _read(path)
    series = _columns(frame, spec, scores)
    sketches: dict[str, Sketch | str] = {}
    for column, (values, kind) in series.items():
        try:
            sketches[column] = sketch(values, kind, column, frame_kind)
        except DataError as exc:  # this column's gate says so; the others still decide
            sketches[column] = f"partition {path!r}: {exc}"
    out: dict[str, Any] = {"rows": len(frame), "sketches": sketches}
    if frame_kind == "current" and spec.schema is not None:
        out["schema"] = violation_groups(frame, spec.schema)
    model = spec.model
    if (
        frame_kind == "current"
        and model is not None
        and scores is not None
        and (spec.target in frame.columns)
    ):
        count = scores.shape[1] if scores.ndim == 2 else 0
        labels = task_labels(frame, spec.target, model.task, model.classes, path, count)
        out["quality"] = QualitySketch.of(model.task, labels, scores, model.threshold, spec.centre)
        if spec.gather:
            out["kept"] = (labels, scores)
    return out


def second_pass(
    path: str,
    frame_kind: str,
    spec: SummarySpec,
    scores: np.ndarray | None,
    plans: Mapping[str, BinPlan],
) -> dict[str, BinCounts]:
    """One partition's rows per bin of each binned numeric column."""
    series = _columns(_read(path), spec, scores)
    return {c: bin_counts(series[c][0], plan, c, frame_kind) for c, plan in plans.items()}


def _peak_rss_mib() -> float:
    """This process's peak resident memory (run on each worker)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _to_stderr(text: str, end: str) -> None:
    print(text, end=end, file=sys.stderr, flush=True)


def quiet(text: str, end: str) -> None:
    """A `say` that shows nothing."""


def _merge_all(items: Iterable[_T]) -> _T:
    merged: _T = functools.reduce(lambda a, b: a.merge(b), items)  # type: ignore[attr-defined]
    return merged


#: Seconds a `--dask-scheduler` is tried before the run's Dask gates are ERROR.
CONNECT_TIMEOUT_S = 10


class DaskEngine:
    """A Dask client for the run: to the cluster at `scheduler`, else to a `LocalCluster` of
    `workers` processes (one thread each, `memory_limit` each) started here."""

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int = 2,
        memory_limit: str = "2GiB",
        timeout_s: float = 3600.0,
        say: Callable[[str, str], None] | None = None,
    ) -> None:
        """`say(text, end)` shows progress (default: standard error); `timeout_s` bounds each
        pass over the partitions."""
        self.scheduler = scheduler
        self.workers = workers
        self.memory_limit = memory_limit
        self.timeout_s = timeout_s
        self.say = say or _to_stderr
        self.client: Any = None
        self.cluster: Any = None

    def __enter__(self) -> DaskEngine:
        require("dask", "distributed", "--engine dask")
        import dask
        from distributed import Client, LocalCluster

        # a task whose worker died is an error at once, not retried on the next worker
        dask.config.set({"distributed.scheduler.allowed-failures": 0})
        try:
            if self.scheduler:
                # a scheduler that is up answers in well under a second, even across a
                # network; one that refuses is retried for this long, once per run
                self.client = Client(self.scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
            else:
                self.cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    memory_limit=self.memory_limit,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                )
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as exc:
            if not self.scheduler:
                raise InfrastructureError(
                    f"a local Dask cluster of {self.workers} workers did not start ({exc}); "
                    "pass --dask-scheduler ADDRESS of a running one"
                ) from exc
            raise InfrastructureError(
                f"--dask-scheduler={self.scheduler!r}: no Dask scheduler answered ({exc}); "
                "start one (`dask scheduler`, then `dask worker ADDRESS` on each machine) or "
                "leave the option out for a local cluster"
            ) from exc
        self._say(f"dask: {len(self.client.scheduler_info()['workers'])} workers, dashboard "
                  f"{self.dashboard}")  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def worker_peaks(self) -> dict[str, float]:
        """Each worker's peak resident memory so far, in MiB."""
        return {str(k): float(v) for k, v in self.client.run(_peak_rss_mib).items()}

    @property
    def dashboard(self) -> str:
        return str(self.client.dashboard_link) if self.client is not None else ""

    def _say(self, text: str, end: str = "\n") -> None:
        self.say(text, end)

    def submit_each(self, function: Callable[..., Any], jobs: Sequence[tuple]) -> list[Any]:
        """`function(*job)` for every job, left on the workers: futures that `map`'s jobs
        may hold (a worker then gets the result where it is, without the client)."""
        return [self.client.submit(function, *job, pure=False) for job in jobs]

    def map(self, label: str, function: Callable[..., _T], jobs: Sequence[tuple]) -> list[_T]:
        """`function(*job)` for every job on the cluster, with a progress line; any failure,
        a lost worker or the timeout is an MlcheckError naming it."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        futures = self.submit_each(function, jobs)
        done = 0
        started = time.perf_counter()
        try:
            for future in as_completed(futures, timeout=self.timeout_s):
                if future.status == "error":
                    future.result()  # raises the task's own error
                done += 1
                self._say(f"\rdask: {label} {done}/{len(jobs)} partitions", end="")
            results = [f.result() for f in futures]
        except KilledWorker as exc:
            raise InfrastructureError(
                f"a Dask worker died while {label} ({exc}); the run cannot decide: check the "
                f"workers' memory (--dask-scheduler={self.scheduler or 'local'}) and run again"
            ) from exc
        except TimeoutError as exc:
            raise InfrastructureError(
                f"{label}: {len(jobs) - done} of {len(jobs)} partitions unfinished after "
                f"{self.timeout_s:.0f} s; are the workers alive? ({self.dashboard})"
            ) from exc
        finally:
            for future in futures:
                future.cancel()
        self._say(f" ({time.perf_counter() - started:.1f} s)")
        return results


def _by_frame(results: Sequence[_T], references: int) -> dict[str, Sequence[_T]]:
    """Per-partition results by frame: the reference's `references` partitions come first."""
    return {"reference": results[:references], "current": results[references:]}


@dataclass
class _Merged:
    """Both frames' sketches merged over their partitions, why a column cannot be compared,
    and the numeric columns' bins (`plan_bins`, then the second pass's counts)."""

    ref: dict[str, Sketch]
    cur: dict[str, Sketch]
    problems: dict[str, str]
    plans: dict[str, BinPlan] = field(default_factory=dict)
    bins: dict[str, tuple[BinCounts, BinCounts]] = field(default_factory=dict)

    def plan_bins(self, columns: Iterable[str]) -> None:
        """The bins of each numeric column both frames hold; a column that cannot be binned
        is a problem."""
        compared = [c for c in columns if c in self.ref and c not in self.problems]
        for column in compared:
            r, c = self.ref[column], self.cur.get(column)
            if c is None:
                continue
            try:
                numeric = isinstance(r, NumericSketch) and isinstance(c, NumericSketch)
                plan = bin_plan(r, c, column) if numeric else None  # type: ignore[arg-type]
            except DataError as exc:
                self.problems[column] = str(exc)
                continue
            if plan is not None:
                self.plans[column] = plan

    def data(self, column: str, kind: ColumnKind) -> ColumnData | str:
        """The column's merged data, or why it cannot be compared."""
        if column in self.problems:
            return self.problems[column]
        if column not in self.ref or column not in self.cur:
            return f"column {column!r} is in no partition of one of the data sets"
        try:
            plan = self.plans.get(column)
            extra = (plan, *self.bins[column]) if plan is not None else None
            return merged_column(kind, self.ref[column], self.cur[column], column, extra)
        except DataError as exc:
            return str(exc)


def _lacking_columns(
    parts: Mapping[str, Sequence[dict[str, Any]]], spec: SummarySpec
) -> dict[str, str]:
    """Why each column every partition lacks, or some lack (its merge would be partial),
    cannot be compared."""
    problems: dict[str, str] = {}
    for frame_kind, results in parts.items():
        for column in [*spec.kinds, TARGET]:
            lacking = sum(1 for r in results if column not in r["sketches"])
            if lacking:
                label = spec.target if column == TARGET else column
                problems[column] = (
                    f"column {label!r} is missing from {lacking} of {len(results)} "
                    f"{frame_kind} partitions; the schema gate lists them"
                )
    return problems


def _merge_partitions(parts: Mapping[str, Sequence[dict[str, Any]]], spec: SummarySpec) -> _Merged:
    """Each frame's sketches merged over its partitions; a column a partition could not
    sketch, or lacks, is a problem."""
    merged: dict[str, dict[str, Sketch]] = {}
    problems: dict[str, str] = {}
    for frame_kind, results in parts.items():
        names = set().union(*(r["sketches"] for r in results))
        merged[frame_kind] = {}
        for name in names:
            found = [r["sketches"][name] for r in results if name in r["sketches"]]
            unusable = [f for f in found if isinstance(f, str)]
            if unusable:
                problems[name] = unusable[0]
            else:
                merged[frame_kind][name] = _merge_all(found)
    problems.update(_lacking_columns(parts, spec))
    return _Merged(merged["reference"], merged["current"], problems)


def _count_bins(
    engine: DaskEngine, jobs: Sequence[tuple], plans: dict[str, BinPlan], references: int
) -> dict[str, tuple[BinCounts, BinCounts]]:
    """The second pass: each planned column's rows per bin, merged per frame."""
    with_plans = [(*job, plans) for job in jobs]
    counts = _by_frame(engine.map("counting bins", second_pass, with_plans), references)
    return {
        column: (
            _merge_all(c[column] for c in counts["reference"]),
            _merge_all(c[column] for c in counts["current"]),
        )
        for column in plans
    }


def _add_model_outputs(
    summary: DataSummary,
    merged: _Merged,
    current: Sequence[dict[str, Any]],
    spec: SummarySpec,
    model: ModelSpec,
) -> None:
    """The model's outputs (a DataError when they cannot be compared) and, when every
    current partition is labelled, the merged quality sketch (and gathered rows)."""
    summary.prediction_kind = output_kind(model.task)
    prediction = merged.data(PREDICTION, summary.prediction_kind)
    if isinstance(prediction, str):
        raise DataError(f"the model's outputs: {prediction}")
    summary.prediction = prediction
    sketches = [r["quality"] for r in current if "quality" in r]
    if 0 < len(sketches) < len(current):
        raise DataError(
            f"{len(current) - len(sketches)} of {len(current)} current partitions have no "
            f"{spec.target!r} column; label every partition, or none (then only the data "
            "gates decide)"
        )
    if len(sketches) == len(current):
        summary.quality = _merge_all(sketches)
        if spec.gather:
            kept = [r["kept"] for r in current]
            summary.labels = np.concatenate([labels for labels, _ in kept])
            summary.scores = np.concatenate([scores for _, scores in kept])


def summarise(
    engine: DaskEngine,
    reference: Sequence[str],
    current: Sequence[str],
    spec: SummarySpec,
) -> DataSummary:
    """Both frames' partitions reduced and merged: drift columns, prediction and label,
    quality and schema violations (of the current data)."""
    started = time.perf_counter()
    paths = [*reference, *current]
    kinds = ["reference"] * len(reference) + ["current"] * len(current)
    scored = engine.submit_each(score_partition, [(p, spec) for p in paths])
    jobs = list(zip(paths, kinds, [spec] * len(paths), scored, strict=True))
    firsts = engine.map("summarising", first_pass, jobs)
    seconds = {"first pass": time.perf_counter() - started}
    parts = _by_frame(firsts, len(reference))
    merged = _merge_partitions(parts, spec)
    merged.plan_bins([*spec.kinds, TARGET, PREDICTION])
    if merged.plans:
        started = time.perf_counter()
        merged.bins = _count_bins(engine, jobs, merged.plans, len(reference))
        seconds["second pass"] = time.perf_counter() - started
    summary = DataSummary(
        reference_rows=sum(r["rows"] for r in parts["reference"]),
        current_rows=sum(r["rows"] for r in parts["current"]),
        partitions={"reference": len(reference), "current": len(current)},
        drift={c: merged.data(c, k) for c, k in spec.kinds.items()},
        seconds=seconds,
        dashboard=engine.dashboard,
        worker_peak_mib=engine.worker_peaks(),
    )
    if TARGET in merged.ref and TARGET in merged.cur:
        summary.target = merged.data(TARGET, label_kind(spec.label_task))
    if spec.model is not None:
        _add_model_outputs(summary, merged, parts["current"], spec, spec.model)
    if spec.schema is not None:
        summary.schema_groups = merge_violation_groups(
            [(path, r["schema"]) for path, r in zip(current, parts["current"], strict=True)]
        )
    return summary
