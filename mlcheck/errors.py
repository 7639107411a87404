"""The "could not decide" family: raised when a gate cannot reach a verdict.

A failed check is never an exception (it is a FAIL result); these errors mean the input,
the configuration or a service is broken, and map to exit code 2.
"""

from __future__ import annotations


class MlcheckError(Exception):
    """Base of every error mlcheck raises on purpose."""


class ConfigError(MlcheckError):
    """An option, a policy key or a model URI is invalid."""


class DataError(MlcheckError):
    """A data file is missing, unreadable or does not fit the model."""


class InfrastructureError(MlcheckError):
    """A service (serving core, Prometheus, MLflow) did not start or stopped answering."""


class NotApplicable(Exception):
    """The gate does not apply to this run (no labels, another task, turned off in the
    policy, not computed over partitions): the suite reports SKIP with this reason. Not an
    `MlcheckError`: nothing is broken, and no path turns it into an error or a pass."""
