"""Named drift scenarios: seeded changes to a current sample, each caught by a known gate.

`apply_scenario(frame, name, strength, seed)` returns a changed copy. Strength 0 changes
nothing; 1 is a change a gate must catch at the demo policy; values above 1 exaggerate it.
Their names, in this order, are also in `mlcheck.data.scenario_names` (the choices of
`mlcheck data --scenario`, read without importing numpy and pandas).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlcheck.data.bank import JOBS, TARGET
from mlcheck.errors import ConfigError

__all__ = ["SCENARIOS", "Scenario", "apply_scenario"]

Change = Callable[[pd.DataFrame, float, np.random.Generator], pd.DataFrame]


@dataclass(frozen=True)
class Scenario:
    name: str
    changes: str
    caught_by: str
    apply: Change


def _none(frame: pd.DataFrame, strength: float, rng: np.random.Generator) -> pd.DataFrame:
    return frame


def _scale(frame: pd.DataFrame, factors: dict[str, np.ndarray | float]) -> pd.DataFrame:
    for column, factor in factors.items():
        frame[column] = np.rint(frame[column].to_numpy(dtype=np.float64) * factor).astype(np.int64)
    return frame


def _covariate(frame: pd.DataFrame, strength: float, rng: np.random.Generator) -> pd.DataFrame:
    frame["age"] = np.clip(frame["age"] + round(8 * strength), 18, 95)
    return _scale(frame, {"duration": 1 + 0.6 * strength, "balance": 1 + 1.5 * strength})


def _gradual(frame: pd.DataFrame, strength: float, rng: np.random.Generator) -> pd.DataFrame:
    ramp = np.linspace(0.0, 1.0, len(frame))  # rows are in time order: later rows drift more
    return _scale(
        frame, {"duration": 1 + 1.2 * strength * ramp, "campaign": 1 + 1.5 * strength * ramp}
    )


def _sudden(frame: pd.DataFrame, strength: float, rng: np.random.Generator) -> pd.DataFrame:
    after = np.arange(len(frame)) >= len(frame) // 2
    factor = np.where(after, 1 + 1.6 * strength, 1.0)
    frame = _scale(frame, {"duration": factor})
    switch = after & (rng.random(len(frame)) < 0.8 * min(strength, 1.0))
    contact = frame["contact"].astype(object).to_numpy()
    contact[switch] = "unknown"
    frame["contact"] = pd.Categorical(contact, categories=frame["contact"].cat.categories)
    return frame


def _category_frequency(
    frame: pd.DataFrame, strength: float, rng: np.random.Generator
) -> pd.DataFrame:
    moved = rng.random(len(frame)) < min(0.35 * strength, 0.9)
    jobs = frame["job"].astype(object).to_numpy()
    jobs[moved] = rng.choice(np.array(["student", "retired", "unemployed"]), size=int(moved.sum()))
    frame["job"] = pd.Categorical(jobs, categories=list(JOBS))
    return frame


def _prior(frame: pd.DataFrame, strength: float, rng: np.random.Generator) -> pd.DataFrame:
    """Resample rows so that positives make up a larger share (the inputs follow the labels)."""
    positives = np.flatnonzero(frame[TARGET].to_numpy() == 1)
    negatives = np.flatnonzero(frame[TARGET].to_numpy() == 0)
    share = min(0.95, positives.size / len(frame) + 0.25 * strength)
    n_pos = round(share * len(frame))
    rows = np.concatenate(
        [
            rng.choice(positives, size=n_pos, replace=True),
            rng.choice(negatives, size=len(frame) - n_pos, replace=False),
        ]
    )
    rng.shuffle(rows)
    frame = frame.iloc[rows].reset_index(drop=True)
    # Repeated rows differ a little, as different clients would, so they are not duplicates.
    frame["balance"] = frame["balance"] + rng.integers(-50, 51, len(frame))
    return frame


def _concept(frame: pd.DataFrame, strength: float, rng: np.random.Generator) -> pd.DataFrame:
    """Same inputs; long calls stop meaning a subscription (the model's main signal breaks)."""
    long_call = frame["duration"].to_numpy() > np.quantile(frame["duration"], 0.75)
    flip = long_call & (rng.random(len(frame)) < 0.5 * min(strength, 2.0))
    labels = frame[TARGET].to_numpy().copy()
    labels[flip] = 1 - labels[flip]
    frame[TARGET] = labels
    return frame


def _missing(frame: pd.DataFrame, strength: float, rng: np.random.Generator) -> pd.DataFrame:
    rate = min(0.15 * strength, 0.9)
    for column in ("age", "balance", "job"):
        holes = rng.random(len(frame)) < rate
        if column == "job":
            frame[column] = frame[column].mask(holes)
        else:
            frame[column] = frame[column].astype("float64").mask(holes)
    return frame


def _schema_break(frame: pd.DataFrame, strength: float, rng: np.random.Generator) -> pd.DataFrame:
    """A renamed column, a wrong type and an unknown category, as an upstream change would make."""
    if strength <= 0:
        return frame
    frame = frame.rename(columns={"duration": "call_duration"})
    frame["age"] = frame["age"].astype(str) + " years"
    jobs = frame["job"].astype(object).to_numpy()
    jobs[rng.random(len(frame)) < 0.05] = "astronaut"
    frame["job"] = jobs
    return frame


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "none",
            "nothing: a fresh sample from the reference's own generator",
            "none (every gate passes)",
            _none,
        ),
        Scenario(
            "covariate_shift",
            "clients are older (+8 years), calls 60% longer, balances 2.5x",
            "drift.age, drift.duration, drift.balance (and prediction drift)",
            _covariate,
        ),
        Scenario(
            "gradual_drift",
            "call duration and campaign contacts grow steadily from the first row to the last",
            "drift.duration, drift.campaign",
            _gradual,
        ),
        Scenario(
            "sudden_shift",
            "from the middle row on, calls are 2.6x longer and 80% of contacts become 'unknown'",
            "drift.duration, drift.contact",
            _sudden,
        ),
        Scenario(
            "category_frequency_shift",
            "35% of clients move to the student, retired and unemployed jobs",
            "drift.job",
            _category_frequency,
        ),
        Scenario(
            "prior_shift",
            "positives make up 25 points more of the rows (label shift)",
            "drift.target, drift.prediction",
            _prior,
        ),
        Scenario(
            "concept_drift",
            "same inputs, but half the long calls have their label flipped",
            "quality.accuracy, quality.recall, quality.log_loss (inputs do not drift)",
            _concept,
        ),
        Scenario(
            "missing_values",
            "15% of age, balance and job values are missing",
            "data_quality.missing.age, .balance, .job",
            _missing,
        ),
        Scenario(
            "schema_break",
            "duration renamed to call_duration, age as text ('41 years'), 5% of jobs 'astronaut'",
            "schema.inputs",
            _schema_break,
        ),
    )
}


def apply_scenario(
    frame: pd.DataFrame, name: str, strength: float = 1.0, seed: int = 0
) -> pd.DataFrame:
    """A changed copy of `frame` under scenario `name`; the same seed gives the same change."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise ConfigError(f"scenario={name!r} is unknown; choose one of: {', '.join(SCENARIOS)}")
    if not 0.0 <= strength <= 10.0:
        raise ConfigError(
            f"strength={strength!r} is out of range; allowed: [0, 10] "
            "(1 = a change the demo policy catches)"
        )
    if strength == 0:
        return frame.copy()
    rng = np.random.default_rng([seed, list(SCENARIOS).index(name)])
    return scenario.apply(frame.copy(), float(strength), rng)
