import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlcheck.stats.catalogue import task_metrics
from mlcheck.stats.metrics import bootstrap_metrics, metric_values


def _data(seed: int, n: int, decimals: int = 3):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    p = np.round(np.clip(rng.beta(2, 5, n) + 0.3 * y, 0, 1), decimals)  # rounding makes ties
    return y, p


def _sklearn(name: str, y, p, threshold=0.5):
    pred = (p >= threshold).astype(int)
    return {
        "accuracy": lambda: skm.accuracy_score(y, pred),
        "roc_auc": lambda: skm.roc_auc_score(y, p),
        "f1": lambda: skm.f1_score(y, pred, zero_division=0),
        "precision": lambda: skm.precision_score(y, pred, zero_division=0),
        "recall": lambda: skm.recall_score(y, pred, zero_division=0),
        "log_loss": lambda: skm.log_loss(y, p),
        "brier": lambda: skm.brier_score_loss(y, p),
    }[name]()


@pytest.mark.parametrize("name", [m for m in task_metrics("binary") if m != "calibration_error"])
@pytest.mark.parametrize("decimals", [2, 6])
def test_metrics_match_sklearn(name, decimals):
    y, p = _data(3, 5000, decimals)
    assert metric_values(y, p, [name])[name][0] == pytest.approx(_sklearn(name, y, p), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 300),
    threshold=st.floats(0.05, 0.95),
)
def test_metrics_match_sklearn_on_any_sample(seed, n, threshold):
    y, p = _data(seed, n, decimals=1)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    values = metric_values(y, p, ["accuracy", "roc_auc", "f1", "recall"], threshold=threshold)
    for name, value in values.items():
        assert value[0] == pytest.approx(_sklearn(name, y, p, threshold), abs=1e-9), name


def test_calibration_error_is_zero_when_calibrated_per_bin():
    p = np.repeat([0.25, 0.75], 400)
    y = np.concatenate([np.r_[np.ones(100), np.zeros(300)], np.r_[np.ones(300), np.zeros(100)]])
    assert metric_values(y, p, ["calibration_error"])["calibration_error"][0] == pytest.approx(0)
    skewed = metric_values(y, np.clip(p + 0.1, 0, 1), ["calibration_error"])["calibration_error"][0]
    assert skewed == pytest.approx(0.1)


def test_slice_masks_give_per_group_values():
    y, p = _data(5, 2000)
    mask = np.zeros((2, len(y)))
    mask[0, :1000] = 1
    mask[1, 1000:] = 1
    per_group = metric_values(y, p, ["roc_auc"], masks=mask)["roc_auc"]
    assert per_group[0] == pytest.approx(skm.roc_auc_score(y[:1000], p[:1000]))
    assert per_group[1] == pytest.approx(skm.roc_auc_score(y[1000:], p[1000:]))


def test_bootstrap_is_deterministic_for_a_seed_and_differs_across_seeds():
    y, p = _data(7, 4000)
    names = ["accuracy", "roc_auc", "log_loss"]
    first = bootstrap_metrics(y, p, names, resamples=200, seed=1)
    again = bootstrap_metrics(y, p, names, resamples=200, seed=1)
    other = bootstrap_metrics(y, p, names, resamples=200, seed=2)
    assert first == again
    assert first["roc_auc"].low != other["roc_auc"].low


def test_bootstrap_interval_brackets_the_value_and_narrows_with_rows():
    small = bootstrap_metrics(*_data(8, 500), ["roc_auc"], resamples=300)["roc_auc"]
    large = bootstrap_metrics(*_data(8, 20_000), ["roc_auc"], resamples=300)["roc_auc"]
    for est in (small, large):
        assert est.low <= est.value <= est.high
    assert (large.high - large.low) < (small.high - small.low) / 3


def test_bootstrap_interval_covers_the_truth_at_its_level():
    """Over seeded samples from one population, the 90% interval covers its accuracy ~90%."""
    rng = np.random.default_rng(0)
    truth, covered, trials = 0.8, 0, 60
    for trial in range(trials):
        y = np.ones(400, dtype=int)
        p = np.where(rng.random(400) < truth, 0.9, 0.1)  # correct with probability 0.8
        est = bootstrap_metrics(y, p, ["accuracy"], resamples=300, confidence=0.9, seed=trial)
        covered += est["accuracy"].low <= truth <= est["accuracy"].high
    assert 0.75 <= covered / trials <= 1.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="no rows"):
        metric_values(np.array([]), np.array([]), ["accuracy"])
    with pytest.raises(ValueError, match="do not fit the binary task"):
        metric_values(np.array([0, 1]), np.array([0.5]), ["accuracy"])


def test_auc_is_nan_with_one_class():
    value = metric_values(np.zeros(10), np.linspace(0, 1, 10), ["roc_auc"])["roc_auc"][0]
    assert np.isnan(value)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 400),
    decimals=st.sampled_from([0, 1, 2, 8]),
)
def test_ranked_auc_matches_sklearn_with_weights_on_both_paths(seed, n, decimals):
    """Few ties (one cumulative sum) and many ties (tie-group sums) give sklearn's weighted AUC."""
    from mlcheck.stats.binary import RankedRows

    rng = np.random.default_rng(seed)
    score = np.round(rng.random(n), decimals)
    positive = (rng.random(n) < 0.4).astype(int)
    weights = rng.integers(0, 4, (3, n)).astype(float)
    order = np.lexsort((positive, score))
    ranked = RankedRows(score[order], positive[order])
    values = ranked.auc(weights[:, order])
    for row, value in zip(weights, values, strict=True):
        labels = positive[row > 0]
        if len(set(labels.tolist())) < 2:
            assert np.isnan(value)
        else:
            expected = skm.roc_auc_score(positive, score, sample_weight=row)
            assert value == pytest.approx(expected, abs=1e-12)
