"""The inputs of one gate run, loaded once and on demand: policy, model, data and scores."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.data.io import read_table
from mlcheck.errors import ConfigError
from mlcheck.models import Predictor, load_model
from mlcheck.options import RunOptions
from mlcheck.policy import Policy, load_policy

__all__ = ["GateInputs"]


class GateInputs:
    """Options resolved into loaded objects; each failure is an `MlcheckError` naming the option."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.options.policy)

    @property
    def target(self) -> str:
        return self.options.target or self.policy.target

    @cached_property
    def model(self) -> Predictor:
        return load_model(self.options.model)

    def data_path(self, kind: str) -> Path:
        """Path of the `reference` or `current` data: the option, or the demo's for `demo`."""
        given = getattr(self.options, kind)
        if given:
            return Path(given)
        if self.options.model == "demo":
            from mlcheck.demo import demo_data_path

            return demo_data_path(kind)
        raise ConfigError(
            f"--{kind} is required when --model={self.options.model!r} is not 'demo'; "
            f"pass the {kind} data as a CSV or Parquet file (--mlcheck-{kind} in pytest)"
        )

    @cached_property
    def champion(self) -> Predictor | None:
        """The model to compare with: --champion, else NAME@champion for a models:/NAME@ALIAS.

        A champion that is not registered yet is None (the comparison is skipped); one that
        was asked for by name must load.
        """
        if self.options.champion:
            return load_model(self.options.champion)
        match = re.match(r"^models:/([^/@]+)@([\w-]+)$", self.options.model)
        if match is None or match.group(2) == "champion":
            return None
        try:
            return load_model(f"models:/{match.group(1)}@champion")
        except ConfigError:
            return None

    @cached_property
    def current(self) -> pd.DataFrame:
        return read_table(self.data_path("current"), "--current")

    @cached_property
    def reference(self) -> pd.DataFrame:
        return read_table(self.data_path("reference"), "--reference")

    @cached_property
    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Labels and model scores of the current data."""
        from mlcheck.gates.quality import labels_and_scores

        return labels_and_scores(self.model, self.current, self.target)

    @cached_property
    def reference_scores(self) -> np.ndarray:
        """Model scores of the reference data (for prediction drift)."""
        return self.model.predict_proba(self.reference.drop(columns=[self.target], errors="ignore"))

    @cached_property
    def schema(self) -> Any:
        """The policy's pandera schema, or one inferred from the reference and saved to reports/."""
        from mlcheck.gates.schema import infer_schema, load_schema, save_schema

        if self.policy.schema.file is not None:
            return load_schema(self.policy.schema.file)
        schema = infer_schema(self.reference, self.target)
        save_schema(schema, Path(self.options.report_dir) / "schema.yaml")
        return schema

    @property
    def load_workers(self) -> int:
        """Locust worker processes: the option, else the policy's `[load] workers`."""
        given = self.options.load_workers
        if given is None:
            return self.policy.load.workers
        if not given.isdigit() or int(given) > 64:
            raise ConfigError(f"--load-workers={given!r} must be a whole number from 0 to 64")
        return int(given)

    def records(self, rows: int) -> list[dict[str, Any]]:
        """The first `rows` current rows as JSON records of the model's features."""
        from mlcheck.serving.client import records_from_frame

        names = self.model.info.feature_names or [
            c for c in self.current.columns if c != self.target
        ]
        return records_from_frame(self.current.head(rows), names)

    @cached_property
    def kinds(self) -> dict[str, str]:
        """numeric/categorical of each model input (drift methods are chosen by kind)."""
        from mlcheck.gates.drift import column_kinds

        return column_kinds(self.model.info.features, self.reference, exclude=[self.target])

    def context(self) -> dict[str, Any]:
        """What the run was about, for report headers; never raises."""
        policy = self.__dict__.get("policy")
        ctx: dict[str, Any] = {
            "model": self.options.model,
            "policy": policy.source if policy is not None else self.options.policy or "default",
        }
        for kind in ("reference", "current"):
            frame = self.__dict__.get(kind)
            label = getattr(self.options, kind) or (
                "demo" if self.options.model == "demo" else None
            )
            if label:
                ctx[kind] = f"{label} ({len(frame):,} rows)" if frame is not None else label
        model = self.__dict__.get("model")
        if model is not None:
            ctx["flavor"] = model.info.flavor
            ctx["model_version"] = model.info.version
        return ctx
