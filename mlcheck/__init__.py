"""mlcheck: decide whether a machine-learning model may ship.

Gates are plain functions returning `GateResult`s; the pytest plugin and the `mlcheck`
command run them as suites. This package never imports pytest.
"""

from mlcheck.errors import ConfigError, DataError, InfrastructureError, MlcheckError
from mlcheck.models.load import Predictor, load_model
from mlcheck.policy import Policy, load_policy
from mlcheck.results import Comparison, GateResult, Outcome, SuiteResult

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
