"""A model scored the way MLflow serves it: `mlflow.pyfunc` on plain JSON-shaped rows.

mlcheck scores XGBoost models through its own fast path; the deploy target (`mlflow models
serve`) goes through the model's `python_function` flavor instead, with strings for categories
and plain numbers. This probe measures what that flavor returns, and says why when it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from mlcheck.errors import DataError
from mlcheck.stats.tasks import Task

__all__ = ["mlflow_models_serve", "mlflow_pyfunc_scores", "pyfunc_serves_labels"]


def mlflow_pyfunc_scores(
    model_dir: str, records: list[dict[str, Any]], task: Task = "binary", labels: bool = False
) -> np.ndarray:
    """MLflow's pyfunc outputs per record for the model at `model_dir`, as float64: P(class
    1), class probabilities (multiclass) or values (regression); with `labels` (a classifier
    whose pyfunc answers class labels) the labels as they are.

    Any failure of MLflow loading or predicting is a DataError naming the model directory and
    the exception (type and message), so the gate can block with it.
    """
    try:
        import mlflow.pyfunc

        output = mlflow.pyfunc.load_model(model_dir).predict(pd.DataFrame(records))
        values = output.to_numpy() if hasattr(output, "to_numpy") else np.asarray(output)
        values = np.asarray(values, dtype=object if labels else np.float64)
    except Exception as exc:
        message = str(exc).strip() or repr(exc)
        raise DataError(
            f"model={model_dir!r}: MLflow's pyfunc could not score JSON-shaped rows: "
            f"{type(exc).__name__}: {message}"
        ) from exc
    if task == "multiclass" or labels:
        return values
    if values.ndim == 2:
        values = values[:, -1]
    return values.reshape(-1)


def pyfunc_serves_labels(model_dir: str, task: Task = "binary") -> bool:
    """True for a scikit-learn-style classifier whose pyfunc `predict` returns class labels
    (MLflow's default for scikit-learn and LightGBM's scikit-learn API), which mlcheck
    deliberately scores with `predict_proba` instead."""
    if task == "regression":
        return False
    from mlflow.models import Model

    flavors = Model.load(model_dir).flavors
    pyfunc = flavors.get("python_function") or {}
    if "sklearn" in flavors:
        return (
            pyfunc.get("loader_module") == "mlflow.sklearn"
            and pyfunc.get("predict_fn", "predict") == "predict"
        )
    lightgbm = flavors.get("lightgbm") or {}
    return pyfunc.get("loader_module") == "mlflow.lightgbm" and str(
        lightgbm.get("model_class", "")
    ).endswith("LGBMClassifier")


def mlflow_models_serve(
    model_dir: str, port: int, log: IO[bytes] | None = None
) -> subprocess.Popen:
    """`mlflow models serve` of `model_dir` on 127.0.0.1:`port` (one worker, this
    environment), in its own process group; output to `log` (default: discarded)."""
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1",
    ]  # fmt: skip
    # mlflow starts `uvicorn` by name: the interpreter's folder must be on PATH
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.Popen(
        command,
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PATH": path},
    )
