"""Challenger vs champion on the same rows: a paired bootstrap against a non-inferiority margin."""

import pytest

from mlcheck.gates.compare import compare_gates, no_champion_gate


@pytest.mark.mlcheck_gate("compare")
def test_challenger_is_not_worse_than_champion(mlcheck_inputs, record_gate):
    inputs = mlcheck_inputs
    champion = inputs.champion
    if champion is None:
        record_gate(
            no_champion_gate(
                "no champion to compare with (pass --champion URI, or gate models:/NAME@ALIAS "
                "with a version under @champion); the absolute quality gates decide"
            )
        )
        return
    labels, scores = inputs.scores
    champion_scores = champion.predict_proba(inputs.current.drop(columns=[inputs.target]))
    gates = compare_gates(
        labels,
        champion_scores,
        scores,
        inputs.policy.compare,
        inputs.policy.quality.decision_threshold,
        champion.info.uri,
    )
    results = [record_gate(g) for g in gates]
    blocked = [r.message for r in results if not r.passed]
    assert not blocked, "\n".join(blocked)
