"""The bundled demo: data and an XGBoost model made on first use and cached under `.mlcheck/`.

The cache is keyed by the generator version and seed, so a new generator never meets an old
model. `MLCHECK_HOME` moves the cache (default: `.mlcheck` in the working directory).
The data modules (numpy, pandas) are imported where they are used: the `mlcheck gate` process,
which resolves the demo's name here but never makes it, does not import them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlcheck.extras import require

__all__ = [
    "DEMO",
    "DEMO_ROWS",
    "DEMO_SEEDS",
    "demo_data_path",
    "demo_dir",
    "demo_model_or",
    "demo_model_path",
    "mlcheck_home",
]

#: The model URI (and data) that names the bundled demo; resolved once, at the edge (the CLI,
#: the pytest plugin, the locustfile), so that below it the demo is a model like any other.
DEMO = "demo"

#: Seeds of the three demo tables: training, reference (what drift compares against), current.
DEMO_SEEDS = {"train": 0, "reference": 1, "current": 2}
DEMO_ROWS = {"train": 50_000, "reference": 20_000, "current": 20_000}


def mlcheck_home() -> Path:
    return Path(os.environ.get("MLCHECK_HOME", ".mlcheck")).resolve()


def demo_dir() -> Path:
    from mlcheck.data.bank import GENERATOR_VERSION

    return mlcheck_home() / f"demo-v{GENERATOR_VERSION}-seed{DEMO_SEEDS['train']}"


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise demo set-up between processes (the serving core and pytest may race)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def demo_data_path(kind: str) -> Path:
    """Path of the demo table `kind` (train, reference or current), generated if missing."""
    from mlcheck.data.bank import generate
    from mlcheck.data.io import write_table

    if kind not in DEMO_SEEDS:
        raise ValueError(f"kind={kind!r}; expected one of {', '.join(DEMO_SEEDS)}")
    directory = demo_dir()
    path = directory / f"{kind}.parquet"
    with _locked(directory):
        if not path.exists():
            print(
                f"mlcheck: generating demo {kind} data ({DEMO_ROWS[kind]:,} rows)", file=sys.stderr
            )
            tmp = path.with_suffix(".tmp.parquet")
            write_table(generate(DEMO_ROWS[kind], DEMO_SEEDS[kind]), tmp)
            tmp.replace(path)
    return path


def demo_model_path() -> Path:
    """Path of the demo MLflow model directory, trained on first use."""
    from mlcheck.data.bank import BANK_FEATURES, TARGET
    from mlcheck.data.io import read_table
    from mlcheck.models.training import MODEL_FORMAT, train_xgboost

    # before any data is generated: the model loads with xgboost even once it is cached
    require("xgboost", "xgboost", f"--model {DEMO} (an XGBoost model)")
    train_path = demo_data_path("train")
    directory = demo_dir()
    path = directory / f"model-f{MODEL_FORMAT}"  # a new save format never reuses an old model
    with _locked(directory):
        if not (path / "MLmodel").exists():
            print("mlcheck: training the demo XGBoost model (first use only)", file=sys.stderr)
            tmp = directory / "model.tmp"
            if tmp.exists():
                shutil.rmtree(tmp)
            train_xgboost(read_table(train_path), tmp, target=TARGET, features=BANK_FEATURES)
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
    return path


def demo_model_or(uri: str) -> str:
    """The demo's model directory (trained on first use) when `uri` is `demo`, else `uri`."""
    return str(demo_model_path()) if uri == DEMO else uri
