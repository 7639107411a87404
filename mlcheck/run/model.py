"""The model a run gates, loaded once (a registry model is downloaded once)."""

from __future__ import annotations

from functools import cached_property

from mlcheck.errors import ConfigError
from mlcheck.models.load import Predictor, load_model
from mlcheck.run.loads import Loads, timed
from mlcheck.run.spec import RunSpec

__all__ = ["RunModel"]


class RunModel:
    """The run's model (`RunSpec.model_uri`), loaded on first use; None for a run on data alone."""

    def __init__(self, spec: RunSpec, loads: Loads) -> None:
        self.spec = spec
        self.loads = loads
        self.uri: str | None = spec.model_uri

    @cached_property
    @timed
    def model(self) -> Predictor:
        """The model, loaded once; a run without one is an error naming --model."""
        if self.uri is None:
            raise ConfigError(
                "--model is not given, so the gates that need a model cannot decide; pass "
                "--model URI (--mlcheck-model in pytest), or run only the data suites "
                "(suites/drift, suites/schema)"
            )
        return load_model(self.spec.model_location(self.uri), self.spec.requested_task)
