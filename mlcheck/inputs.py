"""The inputs of one gate run, loaded once and on demand: policy, model, data and scores."""

from __future__ import annotations

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
