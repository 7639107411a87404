"""Explanations that moved: each feature's permutation importance on the reference and the
current data (a seeded sample of each); the top features must keep their order and their
shares."""

import pytest

from mlcheck.run.data_steps import importance_stability


@pytest.mark.mlcheck_gate("drift.importance")
def test_feature_importance_is_stable(mlcheck_scores, record_gates):
    record_gates(importance_stability(mlcheck_scores))
