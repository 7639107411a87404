"""Quality gates on many rows decide on large-sample intervals (the stated rule of
`metric_intervals`), block and pass like the bootstrap's, and say which interval they used."""

from __future__ import annotations

import dataclasses

import numpy as np

from mlcheck.gates.quality import metric_gates
from mlcheck.policy import load_policy
from mlcheck.results import Outcome
from tests.conftest import ROOT

ROWS = 20_000


def _scores(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(ROWS) < 0.3).astype(np.int64)
    return y, 1.0 / (1.0 + np.exp(-(rng.normal(np.where(y == 1, 2.5, 0.0), 1.0) - 1.2)))


def _policy(large_sample_rows: int):
    quality = load_policy(ROOT / "checks" / "gates.toml").quality
    bootstrap = dataclasses.replace(quality.bootstrap, large_sample_rows=large_sample_rows)
    return dataclasses.replace(quality, bootstrap=bootstrap)


def test_large_sample_gates_name_their_interval_and_agree_with_the_bootstrap():
    y, p = _scores()
    large = {g.name: g for g in metric_gates(y, p, _policy(1_000))}
    boot = {g.name: g for g in metric_gates(y, p, _policy(10**9))}
    assert large["quality.accuracy"].details["interval"] == "wilson"
    assert large["quality.roc_auc"].details["interval"] == "delong"
    assert large["quality.log_loss"].details["interval"] == "delta method"
    assert boot["quality.accuracy"].details["interval"] == "bootstrap"
    for name, gate in large.items():
        assert gate.outcome is boot[name].outcome, name
        assert gate.value == boot[name].value, name
        width = boot[name].interval[1] - boot[name].interval[0]
        assert abs(gate.interval[0] - boot[name].interval[0]) < 0.25 * width, name


def test_large_sample_gates_block_a_weak_model():
    y, p = _scores()
    rng = np.random.default_rng(1)
    weak = np.clip(p + rng.normal(0, 0.35, len(p)), 0, 1)  # noisy scores: AUC and loss worse
    gates = {g.name: g for g in metric_gates(y, weak, _policy(1_000))}
    assert gates["quality.roc_auc"].outcome is Outcome.FAIL
    assert gates["quality.roc_auc"].details["interval"] == "delong"
    assert gates["quality.roc_auc"].interval[0] < 0.85
