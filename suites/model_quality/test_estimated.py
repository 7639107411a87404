"""Quality before the labels arrive: the classification metrics estimated from the model's
probabilities on the current data (confidence-based), WARN by default."""

import pytest

from mlcheck.run.model_steps import estimated_quality


@pytest.mark.mlcheck_gate("quality.estimated")
def test_estimated_quality(mlcheck_scores, record_gates):
    record_gates(estimated_quality(mlcheck_scores))
