"""What a run is, resolved from its options before anything loads: the model it gates (or
none: the data alone), its policy and the suites `--suites` names. The `mlcheck gate`
process finds its suites here without loading the run's inputs (models, data, Dask)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mlcheck.errors import ConfigError
from mlcheck.models.demo import DEMO
from mlcheck.policy import DEFAULT_POLICY_PATH, Policy, load_policy
from mlcheck.resources import resource
from mlcheck.run.options import RunOptions
from mlcheck.run.selection import SUITE_CHOICES

__all__ = ["RunSpec"]


@dataclass(frozen=True)
class RunSpec:
    """A run's options resolved once; the policy is read on first use."""

    options: RunOptions

    @property
    def model_uri(self) -> str | None:
        """The model to gate: --model; else the demo, unless both data files are given: then
        None, a run on data alone (the data gates decide, the model's gates cannot)."""
        both = self.options.reference is not None and self.options.current is not None
        return self.options.model or (None if both else DEMO)

    @cached_property
    def policy(self) -> Policy:
        """`--policy`, else `checks/gates.toml` here, else the demo's policy for the demo model
        (carried by mlcheck), else the built-in defaults."""
        given = self.options.policy
        if given is None and not DEFAULT_POLICY_PATH.is_file() and self.model_uri == DEMO:
            given = str(resource("checks", "gates.toml"))
        return load_policy(given)

    def suites(self, which: str) -> list[str]:
        """The suite paths of `--suites builtin|extra|all`: mlcheck's own, the policy's
        `[suites] extra`, or both."""
        if which not in SUITE_CHOICES:
            raise ConfigError(
                f"--suites={which!r} is not a choice; use one of: {', '.join(SUITE_CHOICES)}"
            )
        extra = [str(path) for path in self.policy.suites.extra]
        missing = [path for path in extra if not Path(path).exists()]
        if missing:
            raise ConfigError(
                f"[suites] extra names {missing[0]!r}, which does not exist; paths there are "
                f"relative to the policy file ({self.policy.source})"
            )
        if which == "extra" and not extra:
            raise ConfigError(
                f"--suites=extra but the policy ({self.policy.source}) names no [suites] extra"
            )
        builtin = [str(resource("suites"))]
        return {"builtin": builtin, "extra": extra, "all": builtin + extra}[which]
