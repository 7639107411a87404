"""A small HTTP client of the serving core, for suites and load scripts."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.errors import InfrastructureError

__all__ = ["post_json", "predict_http", "records_from_frame"]


def records_from_frame(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """JSON-ready records (plain Python values) of `columns` of `frame`."""
    return list(json.loads(frame[list(columns)].to_json(orient="records")))


def post_json(url: str, payload: Any, timeout: float = 30.0) -> tuple[int, Any]:
    """POST JSON; returns (status, decoded body). A refused connection is an InfrastructureError."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise InfrastructureError(f"the serving core at {url} did not answer: {exc}") from exc


def predict_http(base_url: str, records: list[dict[str, Any]]) -> np.ndarray:
    """P(class 1) for `records` from a running serving core."""
    status, body = post_json(f"{base_url}/predict", {"instances": records})
    if status != 200:
        raise InfrastructureError(f"{base_url}/predict answered {status}: {body}")
    return np.array([p["probability"] for p in body["predictions"]], dtype=np.float64)
