"""How a run serves its model and sends it requests: the schema and config it is served with,
the rows the serving core accepts, and the `[load]` run against it."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, cast

from mlcheck.features import FeatureSpec
from mlcheck.probes.locust import LoadRun
from mlcheck.run.scores import Scores
from mlcheck.schema import features_from_schema, infer_schema, save_schema
from mlcheck.serving.codec import accepted_rows
from mlcheck.serving.config import ServingConfig
from mlcheck.stats.tasks import TaskChoice

__all__ = ["LOCUSTFILE", "Serving"]

#: The locustfile every load of a run uses, found through the package (any working directory).
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")


class Serving:
    """The run's model as served: its rows sent, its outputs compared with `scores`."""

    def __init__(self, scores: Scores) -> None:
        self.scores = scores
        self.data = scores.data
        self.spec = scores.spec
        self.run_model = scores.run_model

    @cached_property
    def serving_schema(self) -> Any | None:
        """The schema the model is served with: the one its data is gated on (the policy's,
        else the reference's). Without either, none: the model's signature alone decides what
        serving accepts; a model without a signature is served with the current data's."""
        if self.spec.policy.schema.file is not None or self.spec.has_reference:
            return self.data.schema
        if self.run_model.model.info.features is not None:
            return None
        return infer_schema(self.data.head("current"), self.data.target)

    def served_records(self, rows: int) -> tuple[list[int], list[dict[str, Any]]]:
        """Of the first `rows` current rows, those the serving core accepts: their positions
        and JSON records. A row it refuses (an unknown category, a value out of range) is the
        schema gate's to report, not a serving fault."""
        records = self.data.records(rows)
        keep = accepted_rows(records, self.served_features)
        return keep, [records[i] for i in keep]

    @cached_property
    def served_features(self) -> tuple[FeatureSpec, ...]:
        """The features requests are validated against: the model's, with the run's schema's
        categories, ranges and nullability (what `serving_config` serves with)."""
        target = self.data.target
        exclude = (target,) if target else ()
        features = self.run_model.model.info.features
        if self.serving_schema is None:
            assert features is not None  # serving_schema is None only for a signed model
            return tuple(features)
        schema = self.data.without_absent_label(self.serving_schema)
        return features_from_schema(schema, features, exclude)

    def serving_config(self) -> ServingConfig:
        """How the run serves its model: the loaded model's directory (not downloaded again),
        the policy's schema and decision threshold.

        The model is served with `serving_schema`, the schema its data is gated on: the
        policy's, else the one inferred from the reference data (saved to the report folder's
        `schema.yaml` for it), so serving accepts what the schema gate passes (missing values
        where the reference had them or the schema allows them) and refuses what it blocks.
        """
        model = self.run_model.model
        return ServingConfig(
            model=model.info.path,
            schema=self._serving_schema_file,
            target=self.data.target,
            decision_threshold=self.spec.policy.quality.decision_threshold,
            # a model that cannot say its task (a plain pyfunc) is not scored here for it:
            # the server decides from its first outputs, as the model would here (the task
            # asked for is one of TASK_CHOICES: the model loaded with it, `require_task`)
            task=model.task or cast("TaskChoice", self.spec.requested_task),
        )

    @cached_property
    def _serving_schema_file(self) -> str | None:
        """The file of `serving_schema`: the policy's, else the inferred one saved once to
        the report folder's `schema.yaml`; None when the model's signature alone decides."""
        schema = self.spec.policy.schema.file
        if schema is None and self.serving_schema is not None:
            report_dir = Path(self.spec.options.report_dir)
            schema = save_schema(self.serving_schema, report_dir / "schema.yaml")
        return str(schema) if schema is not None else None

    def load_run(self, url: str, out_dir: Path) -> LoadRun:
        """The run's `[load]` against `url`, with the run's policy file, current rows, workers.

        The current data is read first, so unreadable data is the run's error (exit 2), not a
        locust that silently sends nothing.
        """
        self.data.head("current", 1)  # raises DataError naming the file
        source = Path(self.spec.policy.source)
        current = self.spec.data_path("current")
        if self.spec.engine == "dask":  # the load sends rows of the first partition
            current = Path(self.data.first_partition("current"))
        return LoadRun(
            url=url,
            policy=self.spec.policy.load,
            out_dir=out_dir,
            locustfile=LOCUSTFILE,
            policy_file=source if source.is_file() else None,
            current=current,
            workers=self.spec.load_workers,
        )
