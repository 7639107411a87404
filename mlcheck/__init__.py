"""mlcheck: decide whether a machine-learning model may ship.

Gates are plain functions returning `GateResult`s; the pytest plugin and the `mlcheck`
command run them as suites. This package never imports pytest.

The names below are imported on first use, so `mlcheck --help` and the `mlcheck gate`
process that only supervises pytest do not pay for the model libraries.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from mlcheck.errors import ConfigError, DataError, InfrastructureError, MlcheckError
    from mlcheck.models.load import Predictor, load_model
    from mlcheck.policy import Policy, load_policy
    from mlcheck.results import Comparison, GateResult, Outcome, SuiteResult

_HOMES = {
    "mlcheck.errors": ("ConfigError", "DataError", "InfrastructureError", "MlcheckError"),
    "mlcheck.models.load": ("Predictor", "load_model"),
    "mlcheck.policy": ("Policy", "load_policy"),
    "mlcheck.results": ("Comparison", "GateResult", "Outcome", "SuiteResult"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "Comparison",
    "ConfigError",
    "DataError",
    "GateResult",
    "InfrastructureError",
    "MlcheckError",
    "Outcome",
    "Policy",
    "Predictor",
    "SuiteResult",
    "load_model",
    "load_policy",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> _typing.Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module 'mlcheck' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_HOME_OF[name]), name)
    globals()[name] = value
    return value
