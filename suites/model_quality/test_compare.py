"""Challenger vs champion on the same rows: a paired bootstrap against a non-inferiority margin."""

import pytest

from mlcheck.run.model_steps import champion_comparison


@pytest.mark.mlcheck_gate("compare")
def test_challenger_is_not_worse_than_champion(mlcheck_scores, record_gates):
    record_gates(champion_comparison(mlcheck_scores))
