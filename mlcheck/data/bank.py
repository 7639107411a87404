"""A deterministic generator of bank-marketing-like rows (the bundled demo data).

The columns follow the public bank-marketing data set: a client's profile, the current
campaign's contact and the previous campaign's outcome, with the binary target `y` (did the
client subscribe). The signal mirrors the real data: call duration dominates, a previous
success and the contact channel matter, and about 12% of clients subscribe. Every column is
drawn with vectorised numpy, so a million rows take about a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcheck.errors import ConfigError
from mlcheck.features import FeatureKind, FeatureSpec

__all__ = ["BANK_FEATURES", "GENERATOR_VERSION", "MAX_ROWS", "MIN_ROWS", "TARGET", "generate"]

#: Bump when the generated values change for a given seed (invalidates cached demo models).
GENERATOR_VERSION = 1
MIN_ROWS = 1
MAX_ROWS = 10_000_000
TARGET = "y"

JOBS = (
    "admin.",
    "blue-collar",
    "entrepreneur",
    "housemaid",
    "management",
    "retired",
    "self-employed",
    "services",
    "student",
    "technician",
    "unemployed",
    "unknown",
)
JOB_SHARE = (0.114, 0.215, 0.033, 0.027, 0.209, 0.050, 0.035, 0.092, 0.021, 0.168, 0.029, 0.007)
MARITAL = ("married", "single", "divorced")
EDUCATION = ("primary", "secondary", "tertiary", "unknown")
YES_NO = ("no", "yes")
CONTACT = ("cellular", "telephone", "unknown")
POUTCOME = ("failure", "other", "success", "unknown")

# Education by job group: manual, office, professional.
_EDUCATION_BY_GROUP = np.array(
    [
        [0.55, 0.36, 0.04, 0.05],
        [0.08, 0.70, 0.17, 0.05],
        [0.04, 0.24, 0.68, 0.04],
    ]
)
_JOB_GROUP = np.array([1, 0, 2, 0, 2, 1, 2, 0, 1, 1, 1, 1])

BANK_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("age", FeatureKind.INTEGER),
    FeatureSpec("job", FeatureKind.CATEGORICAL, JOBS),
    FeatureSpec("marital", FeatureKind.CATEGORICAL, MARITAL),
    FeatureSpec("education", FeatureKind.CATEGORICAL, EDUCATION),
    FeatureSpec("default", FeatureKind.CATEGORICAL, YES_NO),
    FeatureSpec("balance", FeatureKind.INTEGER),
    FeatureSpec("housing", FeatureKind.CATEGORICAL, YES_NO),
    FeatureSpec("loan", FeatureKind.CATEGORICAL, YES_NO),
    FeatureSpec("contact", FeatureKind.CATEGORICAL, CONTACT),
    FeatureSpec("duration", FeatureKind.INTEGER),
    FeatureSpec("campaign", FeatureKind.INTEGER),
    FeatureSpec("pdays", FeatureKind.INTEGER),
    FeatureSpec("previous", FeatureKind.INTEGER),
    FeatureSpec("poutcome", FeatureKind.CATEGORICAL, POUTCOME),
)


def _choice_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row from that row's own probability vector."""
    cumulative = probabilities.cumsum(axis=1)
    uniform = rng.random(len(probabilities))[:, None]
    return np.minimum((uniform > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _categorical(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=pd.Index(categories))


def _check_size(rows: int, seed: int) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer):
        raise ConfigError(f"rows={rows!r} must be an integer between {MIN_ROWS} and {MAX_ROWS:,}")
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise ConfigError(
            f"rows={rows:,} is out of range; choose between {MIN_ROWS} and {MAX_ROWS:,}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """Return `rows` bank-marketing-like rows, the same for the same `rows` and `seed`."""
    _check_size(rows, seed)
    rng = np.random.default_rng([GENERATOR_VERSION, seed])
    n = int(rows)

    job = rng.choice(len(JOBS), size=n, p=np.array(JOB_SHARE) / sum(JOB_SHARE))
    age_mean = np.where(job == JOBS.index("student"), 26.0, 40.0)
    age_mean = np.where(job == JOBS.index("retired"), 63.0, age_mean)
    age_sd = np.where(job == JOBS.index("student"), 4.0, 9.5)
    age = np.clip(np.rint(rng.normal(age_mean, age_sd)), 18, 95).astype(np.int64)

    p_single = np.clip(0.85 - 0.025 * (age - 22), 0.04, 0.85)
    p_divorced = np.where(age > 30, 0.13, 0.02)
    marital = _choice_rows(
        rng, np.column_stack([1.0 - p_single - p_divorced, p_single, p_divorced])
    )
    education = _choice_rows(rng, _EDUCATION_BY_GROUP[_JOB_GROUP[job]])
    default = (rng.random(n) < 0.018).astype(np.int8)

    positive = np.exp(rng.normal(6.2, 1.4, n))
    negative = -np.exp(rng.normal(5.0, 1.0, n))
    balance = np.where(rng.random(n) < 0.08 + 0.25 * default, negative, positive)
    balance = np.clip(np.rint(balance), -8019, 102127).astype(np.int64)

    housing = (rng.random(n) < np.where((age > 25) & (age < 60), 0.62, 0.35)).astype(np.int8)
    loan = (rng.random(n) < 0.16).astype(np.int8)
    contact = rng.choice(3, size=n, p=[0.65, 0.06, 0.29])
    log_duration = rng.normal(5.2, 0.85, n)
    duration = np.clip(np.rint(np.exp(log_duration)), 0, 4918).astype(np.int64)
    campaign = np.minimum(rng.geometric(0.39, n), 63).astype(np.int64)

    contacted = rng.random(n) < 0.18
    pdays = np.where(contacted, np.clip(np.rint(rng.exponential(220.0, n)) + 1, 1, 871), -1)
    previous = np.where(contacted, 1 + rng.poisson(1.5, n), 0).astype(np.int64)
    poutcome = np.where(contacted, rng.choice(3, size=n, p=[0.60, 0.22, 0.18]), 3)

    logit = (
        -3.2
        + 2.35 * (log_duration - 5.2) / 0.85
        + 2.6 * (poutcome == 2)
        - 1.1 * (contact == 2)
        - 0.6 * housing
        - 0.4 * loan
        + 0.9 * np.isin(job, [JOBS.index("student"), JOBS.index("retired")])
        + 0.35 * (education == 2)
        - 0.15 * (campaign - 1)
        + 0.5 * ((age < 25) | (age > 60))
        + 0.12 * np.log1p(np.maximum(balance, 0)) / 7.0
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    return pd.DataFrame(
        {
            "age": age,
            "job": _categorical(job, JOBS),
            "marital": _categorical(marital, MARITAL),
            "education": _categorical(education, EDUCATION),
            "default": _categorical(default, YES_NO),
            "balance": balance,
            "housing": _categorical(housing, YES_NO),
            "loan": _categorical(loan, YES_NO),
            "contact": _categorical(contact, CONTACT),
            "duration": duration,
            "campaign": campaign,
            "pdays": pdays.astype(np.int64),
            "previous": previous,
            "poutcome": _categorical(poutcome, POUTCOME),
            TARGET: y,
        }
    )
