"""A gate run's parts, made from its options: what the options resolve to (`RunSpec`), the
model (`RunModel`), the data (`Data`), what the model says about it (`Scores`) and how it is
served (`Serving`). Each loads on first use; steps and suites take the parts they use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from mlcheck.results import RunContext
from mlcheck.run.data import Data
from mlcheck.run.loads import Loads
from mlcheck.run.model import RunModel
from mlcheck.run.options import RunOptions
from mlcheck.run.scores import Scores
from mlcheck.run.serving import Serving
from mlcheck.run.spec import RunSpec

__all__ = ["Run"]

#: The two data sets of a run, as report headers name them.
SIDES: tuple[Literal["reference", "current"], ...] = ("reference", "current")


class Run:
    """The parts of one run, sharing one record of what loaded and how long it took."""

    def __init__(self, options: RunOptions, say: Callable[[str, str], None] | None = None) -> None:
        self.spec = RunSpec(options)
        self.loads = Loads()
        self.model = RunModel(self.spec, self.loads)
        self.data = Data(self.spec, self.loads, self.model)
        self.scores = Scores(self.data, say)
        self.serving = Serving(self.scores)

    @property
    def timings(self) -> dict[str, float]:
        """Seconds each input took to load or compute (model, current, scores, ...)."""
        return self.loads.timings

    def loaded(self, name: str) -> Any:
        """The input `name` (policy, model, reference, current, summary, schema, kinds, ...)
        if the run loaded it already, else None: reports never load anything."""
        for part in (self.spec, self.model, self.data, self.scores):
            value = vars(part).get(name)
            if value is not None:
                return value
        return None

    def context(self) -> RunContext:
        """What the run was about, for report headers; never raises."""
        spec = self.spec
        policy = self.loaded("policy")
        ctx: RunContext = {
            "model": self.model.uri or "none (data gates only)",
            "policy": policy.source if policy is not None else spec.options.policy or "default",
        }
        for kind in SIDES:
            frame = self.loaded(kind)
            label = spec.data_label(kind)
            if label:
                ctx[kind] = f"{label} ({len(frame):,} rows)" if frame is not None else label
        summary = self.loaded("summary")
        if summary is not None:
            ctx["engine"] = f"dask ({summary.dashboard})" if summary.dashboard else "dask"
            ctx["dask"] = {
                "seconds": summary.seconds,
                "worker_peak_mib": summary.worker_peak_mib,
            }
            for kind in SIDES:
                rows = getattr(summary, f"{kind}_rows")
                parts = summary.partitions[kind]
                ctx[kind] = f"{spec.data_location(kind)} ({rows:,} rows, {parts} partitions)"
        model = self.loaded("model")
        if model is not None:
            ctx["flavor"] = model.info.flavor
            if model.task is not None:
                ctx["task"] = model.task
            ctx["model_version"] = model.info.version
            if model.info.features is None:
                ctx["inputs"] = "no signature: requests are validated with the schema"
        return ctx
