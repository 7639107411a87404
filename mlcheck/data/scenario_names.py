"""The names of the drift scenarios of `mlcheck.data.scenarios`, in its order: the choices of
`mlcheck data --scenario`, here without numpy and pandas so that building the command line's
parser (every `mlcheck` run) does not import them."""

from __future__ import annotations

__all__ = ["SCENARIO_NAMES"]

SCENARIO_NAMES = (
    "none",
    "covariate_shift",
    "gradual_drift",
    "sudden_shift",
    "category_frequency_shift",
    "prior_shift",
    "concept_drift",
    "missing_values",
    "schema_break",
)
