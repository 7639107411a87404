"""The importance-stability gate: permutation importance of the demo model on the reference
and the current data; the gate blocks when the top features reorder or a share moves."""

from __future__ import annotations

import numpy as np
import pytest

from mlcheck.data.bank import generate
from mlcheck.data.io import write_table
from mlcheck.gates.importance import importance_shares, importance_stability_gate
from mlcheck.policy import ImportancePolicy
from mlcheck.results import Outcome
from mlcheck.run.data_steps import importance_stability
from mlcheck.run.options import RunOptions
from mlcheck.run.parts import Run

REFERENCE = {"duration": 0.20, "poutcome": 0.06, "contact": 0.03, "housing": 0.02, "age": 0.01}


def _gate(current, **policy):
    policy = {"enabled": True, **policy}
    return importance_stability_gate(
        REFERENCE, current, ImportancePolicy(**policy), "permutation", "roc_auc"
    )


def test_the_same_importances_pass():
    gate = _gate(dict(REFERENCE))
    assert gate.outcome is Outcome.PASS and gate.value == pytest.approx(0.0)
    assert gate.details["rank_correlation"] == pytest.approx(1.0)
    assert gate.details["ranked"] == ["duration", "poutcome", "contact", "housing"]  # >= 5%


def test_top_features_that_reorder_block():
    reordered = {"duration": 0.03, "poutcome": 0.06, "contact": 0.20, "housing": 0.02, "age": 0.01}
    gate = _gate(reordered, max_share_shift=1.0)
    assert gate.outcome is Outcome.FAIL and gate.details["rank_correlation"] < 0.6
    assert "rank differently" in gate.reason


def test_a_share_that_moves_blocks_even_in_the_same_order():
    moved = {"duration": 0.07, "poutcome": 0.06, "contact": 0.05, "housing": 0.02, "age": 0.01}
    gate = _gate(moved)
    assert gate.details["rank_correlation"] == pytest.approx(1.0)
    assert gate.outcome is Outcome.FAIL and "duration's share" in gate.reason
    assert gate.value == pytest.approx(0.20 / 0.32 - 0.07 / 0.21)
    assert _gate(moved, outcome="warn").outcome is Outcome.WARN


def test_a_model_that_no_longer_tells_features_apart_blocks():
    gate = _gate(dict.fromkeys(REFERENCE, 0.0))
    assert gate.outcome is Outcome.FAIL and gate.details["rank_correlation"] == 0.0


def test_a_reference_without_importance_cannot_decide():
    gate = importance_stability_gate(
        dict.fromkeys(REFERENCE, -0.01), REFERENCE, ImportancePolicy(), "permutation", "r2"
    )
    assert gate.outcome is Outcome.ERROR and "no feature" in gate.reason


def test_negative_importances_count_as_none():
    shares = importance_shares({"a": 0.3, "b": -0.1, "c": 0.1})
    assert shares == {"a": pytest.approx(0.75), "b": 0.0, "c": pytest.approx(0.25)}
    assert importance_shares({"a": -0.1}) == {"a": 0.0}


def _scores(tmp_path, current):
    reference = tmp_path / "reference.parquet"
    write_table(generate(20_000, seed=1), reference)
    path = tmp_path / "current.parquet"
    write_table(current, path)
    return Run(RunOptions(model="demo", reference=str(reference), current=str(path))).scores


@pytest.mark.slow
def test_the_demo_model_passes_on_clean_data_and_blocks_when_its_top_feature_breaks(tmp_path):
    clean = importance_stability(_scores(tmp_path, generate(20_000, seed=2)))
    assert clean.outcome is Outcome.PASS, clean.message
    assert clean.details["method"].startswith("permutation importance")
    top = clean.details["ranked"][0]
    broken = generate(20_000, seed=3)
    # the top feature no longer goes with the label: its values are shuffled among the rows
    broken[top] = np.random.default_rng(0).permutation(broken[top].to_numpy())
    gate = importance_stability(_scores(tmp_path, broken))
    assert gate.outcome is Outcome.FAIL, gate.message
    assert gate.details["largest_shift"]["feature"] == top
