"""Permutation importance on a seeded sample: the same numbers as scikit-learn's
`permutation_importance` with fewer rows predicted, a sample of 5,000 rows ranks the
features as all rows do (the agreement the gate's details state), and with --engine dask the
partitions give the sample the frame in memory gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.inspection import permutation_importance

from mlcheck.data.bank import generate
from mlcheck.data.io import read_table
from mlcheck.data.partitions import partition_files
from mlcheck.engine.dask import sample_partitions_seeded
from mlcheck.probes.importance import permutation_importances
from mlcheck.run.data_steps import importance_stability
from mlcheck.run.options import RunOptions
from mlcheck.run.parts import Run
from mlcheck.stats.metrics import metric_values


class _Linear:
    """A model whose score depends on each row alone: numbers, a category with a gap."""

    classes = None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        level = frame["level"].map({"low": -1.0, "mid": 0.0, "high": 1.0}).astype(float)
        z = 0.8 * frame["x"] - 0.3 * frame["small"] + level.fillna(0.5).to_numpy()
        return 1 / (1 + np.exp(-z.to_numpy(dtype=float)))


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    level = pd.Series(rng.choice(["low", "mid", "high"], rows), dtype="category")
    level[rng.random(rows) < 0.1] = np.nan
    frame = pd.DataFrame(
        {"x": rng.normal(size=rows), "small": rng.integers(0, 3, rows), "level": level}
    )
    frame["y"] = (rng.random(rows) < _Linear().predict(frame)).astype(int)
    return frame


class _Scored:
    def __init__(self, model: _Linear) -> None:
        self.model = model

    def fit(self, *_):
        return self

    def score(self, features, labels) -> float:
        return float(metric_values(labels, self.model.predict(features), ["roc_auc"])["roc_auc"][0])


@pytest.mark.parametrize(("rows", "seed"), [(3_000, 0), (800, 7)])
def test_the_same_importances_as_scikit_learn_with_fewer_rows_predicted(rows, seed):
    frame, features, model = _frame(4_000, seed), ["x", "small", "level"], _Linear()
    ours = permutation_importances(
        model, frame, features, "y", "binary", "roc_auc", rows=rows, repeats=5, seed=seed
    )
    sample = frame.sample(n=rows, random_state=seed).reset_index(drop=True)
    theirs = permutation_importance(
        _Scored(model),
        sample[features],
        sample["y"].to_numpy(),
        scoring=lambda estimator, x, y: estimator.score(x, y),
        n_repeats=5,
        random_state=seed,
    )
    mean = dict(zip(features, theirs.importances_mean, strict=True))
    std = dict(zip(features, theirs.importances_std, strict=True))
    assert ours.mean == pytest.approx(mean, abs=1e-12)
    assert ours.std == pytest.approx(std, abs=1e-12)
    assert (ours.rows, ours.of) == (rows, 4_000)
    # the 3-valued columns keep a third of their rows or more, and repeat values
    assert ours.predicted < rows + 0.8 * rows * 5 * len(features)


@pytest.mark.slow
def test_a_sample_of_5000_rows_ranks_the_features_as_all_rows_do(tmp_path):
    """The figures `SAMPLE_AGREEMENT` states: the demo model's importances on 5,000 sampled
    rows against all 50,000 rows (~25 s)."""
    run = Run(RunOptions(model="demo"))
    model, features = run.model.model, run.data.feature_names
    frame = generate(50_000, seed=2)
    args = (model, frame, features, "y", "binary", "roc_auc")
    full = permutation_importances(*args, rows=len(frame), repeats=5, seed=0)
    top = sorted(features, key=lambda f: -full.mean[f])[:5]
    everything, leaders = [], []
    for seed in range(3):
        sample = permutation_importances(*args, rows=5_000, repeats=5, seed=seed)
        everything.append(
            stats.spearmanr([full.mean[f] for f in features], [sample.mean[f] for f in features])
        )
        leaders.append(stats.spearmanr([full.mean[f] for f in top], [sample.mean[f] for f in top]))
    print("Spearman, all features:", [round(float(r.statistic), 3) for r in everything])
    print("Spearman, top 5:", [round(float(r.statistic), 3) for r in leaders])
    assert min(r.statistic for r in everything) >= 0.85
    assert min(r.statistic for r in leaders) >= 0.8


# --------------------------------------------------------------------- with --engine dask


def _write_partitions(frame: pd.DataFrame, folder: Path, pieces: int) -> list[str]:
    folder.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), pieces)):
        frame.iloc[rows].to_parquet(folder / f"part-{i:03d}.parquet", index=False)
    return partition_files(str(folder), "--current")


@pytest.mark.parametrize(("rows", "seed"), [(500, 0), (1_999, 3), (5_000, 1)])
def test_the_partitions_give_the_sample_the_frame_in_memory_gives(tmp_path, rows, seed):
    files = _write_partitions(generate(2_000, seed=4), tmp_path / "parts", 3)
    in_memory = read_table(str(tmp_path / "parts"), "--current")
    expected = in_memory.sample(n=rows, random_state=seed) if rows < 2_000 else in_memory
    sampled = sample_partitions_seeded(files, rows, seed)
    pd.testing.assert_frame_equal(sampled, expected.reset_index(drop=True), check_categorical=False)


def test_past_a_frame_in_memory_the_sample_keeps_only_the_rows_drawn(tmp_path, monkeypatch):
    frame = generate(2_000, seed=4)
    files = _write_partitions(frame, tmp_path / "parts", 3)
    monkeypatch.setattr("mlcheck.engine.dask.EXACT_SAMPLE_ROWS", 1_000)
    sampled = sample_partitions_seeded(files, 500, 0)
    assert len(sampled) == 500
    assert len(sampled.merge(frame, how="inner")) >= 500  # every row is one of the data's
    pd.testing.assert_frame_equal(sampled, sample_partitions_seeded(files, 500, 0))


@pytest.mark.slow
def test_with_dask_the_gate_decides_on_the_rows_the_local_engine_samples(tmp_path):
    """The gate is no longer skipped with --engine dask: the same sample, the same numbers."""
    for kind, seed in (("reference", 1), ("current", 2)):
        _write_partitions(generate(6_000, seed=seed), tmp_path / kind, 3)
    paths = {kind: str(tmp_path / kind) for kind in ("reference", "current")}
    gates = {
        engine: importance_stability(Run(RunOptions(model="demo", engine=engine, **paths)).scores)
        for engine in ("local", "dask")
    }
    assert gates["dask"].outcome is gates["local"].outcome
    assert gates["dask"].details["current"] == gates["local"].details["current"]
    assert gates["dask"].details["sample"] == gates["local"].details["sample"]
    assert gates["dask"].details["sample"]["of"] == {"reference": 6_000, "current": 6_000}
    assert gates["dask"].details["sample"]["rows"] == {"reference": 5_000, "current": 5_000}
