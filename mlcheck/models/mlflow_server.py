"""Every call mlcheck makes to an MLflow tracking server or registry, bounded in time.

MLflow's client retries for minutes by default, so a server that is down would hang a gate.
Calls here first check that the server answers `/health` (a few seconds), then run with a
short HTTP timeout and one retry; `MLCHECK_MLFLOW_TIMEOUT_S` (default 10) sets the timeout.
A missing name, alias or version is a ConfigError; a server that fails is InfrastructureError
naming the server and the fix.
"""

from __future__ import annotations

import math
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from mlcheck.errors import ConfigError, InfrastructureError

__all__ = ["TIMEOUT_ENV", "bounded_requests", "call", "check_reachable", "timeout_s"]

TIMEOUT_ENV = "MLCHECK_MLFLOW_TIMEOUT_S"
_T = TypeVar("_T")
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def timeout_s() -> float:
    """The per-request timeout: `MLCHECK_MLFLOW_TIMEOUT_S`, default 10 seconds."""
    text = os.environ.get(TIMEOUT_ENV, "10")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 1 <= value <= 600:
        raise ConfigError(f"{TIMEOUT_ENV}={text!r} must be a number of seconds from 1 to 600")
    return value


FIX_TRACKING_URI = "start it, or set MLFLOW_TRACKING_URI to the server that holds the model"


def check_reachable(
    tracking_uri: str, timeout: float, what: str = "MLflow", fix: str = FIX_TRACKING_URI
) -> None:
    """InfrastructureError unless the http(s) server at `tracking_uri` answers /health."""
    if not tracking_uri.startswith(("http://", "https://")):
        return  # a local store (sqlite, file): nothing to wait for
    try:
        with urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=timeout):
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise InfrastructureError(
            f"{what}: the MLflow server at {tracking_uri!r} does not answer /health within "
            f"{timeout:.0f} s ({exc}); {fix}"
        ) from exc


@contextmanager
def bounded_requests(timeout: float) -> Iterator[None]:
    """MLflow's REST client reads these on every call: a short timeout and one retry."""
    wanted = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(timeout))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def call(what: str, function: Callable[..., _T], *args: Any) -> _T:
    """Run one call against the tracking server, bounded; errors name `what` and the server."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = mlflow.get_tracking_uri()
    limit = timeout_s()
    check_reachable(uri, min(limit, 5.0), what)
    try:
        with bounded_requests(limit):
            return function(*args)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in _NOT_FOUND:
            raise ConfigError(
                f"{what} could not be found: {exc.message}. Check the name and alias or "
                f"version, and that MLFLOW_TRACKING_URI={uri!r} is the server that holds it"
            ) from exc
        raise InfrastructureError(
            f"{what}: the MLflow server at {uri!r} failed: {exc.message}"
        ) from exc
    except OSError as exc:
        raise InfrastructureError(
            f"{what}: the MLflow server at {uri!r} did not answer ({exc}); start it or set "
            "MLFLOW_TRACKING_URI"
        ) from exc
