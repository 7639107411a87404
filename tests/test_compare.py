"""Champion vs challenger: the paired non-inferiority gate, in seeded simulations."""

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from mlcheck.gates.compare import compare_gates
from mlcheck.policy import BootstrapPolicy, ComparePolicy
from mlcheck.results import Outcome
from mlcheck.stats.metrics import paired_difference

ROWS = 10_000
TRIALS = 40
POLICY = ComparePolicy(margins=(("roc_auc", 0.01),), bootstrap=BootstrapPolicy(resamples=200))


def _separation(auc: float) -> float:
    """Mean shift of positives' scores giving this AUC (binormal, unit variances)."""
    return float(np.sqrt(2) * norm.ppf(auc))


def _scores(rng, auc_champion, auc_challenger, rho=0.8):
    """Labels and two correlated score sets with the given population AUCs."""
    y = (rng.random(ROWS) < 0.12).astype(int)
    shared, own = rng.normal(size=ROWS), rng.normal(size=ROWS)
    champion = y * _separation(auc_champion) + shared
    challenger = y * _separation(auc_challenger) + rho * shared + np.sqrt(1 - rho**2) * own
    to_probability = lambda s: 1 / (1 + np.exp(-s))  # noqa: E731
    return y, to_probability(champion), to_probability(challenger)


def _blocked_share(auc_champion, auc_challenger, identical=False):
    blocked = 0
    for trial in range(TRIALS):
        rng = np.random.default_rng(trial)
        y, champion, challenger = _scores(rng, auc_champion, auc_challenger)
        if identical:
            challenger = champion.copy()
        gates = compare_gates(
            y,
            champion,
            challenger,
            ComparePolicy(
                margins=POLICY.margins,
                bootstrap=BootstrapPolicy(resamples=POLICY.bootstrap.resamples, seed=trial),
            ),
        )
        blocked += gates[0].outcome is Outcome.FAIL
    return blocked / TRIALS


@pytest.mark.slow  # repeated bootstrap trials
def test_an_identical_challenger_is_not_blocked():
    assert _blocked_share(0.91, 0.91, identical=True) <= 0.05


@pytest.mark.slow  # repeated bootstrap trials
def test_a_challenger_0_02_auc_lower_is_blocked():
    assert _blocked_share(0.91, 0.89) >= 0.95


@pytest.mark.slow  # repeated bootstrap trials
def test_an_equal_but_different_challenger_is_mostly_passed():
    assert _blocked_share(0.91, 0.91) <= 0.10


def test_paired_difference_matches_the_point_difference():
    rng = np.random.default_rng(5)
    y, a, b = _scores(rng, 0.9, 0.85)
    diff = paired_difference(y, a, b, ["roc_auc", "accuracy", "log_loss"], resamples=200)
    assert diff["roc_auc"].value == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a))
    assert diff["roc_auc"].low <= diff["roc_auc"].value <= diff["roc_auc"].high
    assert diff["roc_auc"].high < 0


def test_gate_message_has_the_difference_interval_and_margin():
    rng = np.random.default_rng(1)
    y, champion, challenger = _scores(rng, 0.91, 0.85)
    gate = compare_gates(y, champion, challenger, POLICY, champion_name="models:/bank@champion")[0]
    assert gate.outcome is Outcome.FAIL and gate.threshold == -0.01
    assert gate.message.startswith("compare.roc_auc: roc_auc difference=-0.0")
    assert "vs models:/bank@champion: the challenger is behind by" in gate.reason
