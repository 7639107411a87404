"""The serving core: a Starlette app that predicts, reports health and exports metrics.

`create_app(predictor)` builds the app for a loaded model; `app_from_env()` is the factory
uvicorn calls in each worker (`mlcheck serve` sets the environment it reads).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlcheck.errors import ConfigError
from mlcheck.features import features_to_json
from mlcheck.models import Predictor, load_model
from mlcheck.serving.codec import RequestError, decode_request
from mlcheck.serving.metrics import ServingMetrics

__all__ = ["ServingConfig", "app_from_env", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

ROUTES = ("/predict", "/health", "/ready", "/model/info", "/metrics")


@dataclass(frozen=True)
class ServingConfig:
    """Limits of the serving core; requests beyond them get 413."""

    max_rows: int = 1000
    max_body_bytes: int = 1_048_576
    decision_threshold: float = 0.5
    schema: str | None = None

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ConfigError(f"max_rows={self.max_rows} must be at least 1")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes={self.max_body_bytes} must be at least 1024")
        if not 0.0 <= self.decision_threshold <= 1.0:
            raise ConfigError(f"decision_threshold={self.decision_threshold} must be in [0, 1]")


class _Instrumented:
    """ASGI middleware: counts every HTTP request by route and status and times it."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in ROUTES else "other"
        method = scope["method"]
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.latency.labels(endpoint, method).observe(time.perf_counter() - started)
            self.metrics.requests.labels(endpoint, method, str(status)).inc()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(
            413,
            [{"row": None, "field": "body", "error": f"is {declared} bytes; the limit is {limit}"}],
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(
                413,
                [{"row": None, "field": "body", "error": f"exceeds the limit of {limit} bytes"}],
            )
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(predictor: Predictor, config: ServingConfig | None = None) -> Starlette:
    """The serving app for a loaded model. Requests are validated against its features."""
    config = config or ServingConfig()
    info = predictor.info
    if info.features is None:
        raise ConfigError(
            f"model={info.uri!r} has no input signature, so requests cannot be validated; "
            "save it with signature=mlflow.models.infer_signature(X, y)"
        )
    features = info.features
    if config.schema:
        from mlcheck.gates.schema import features_from_schema, load_schema

        features = features_from_schema(load_schema(config.schema), features)
    metrics = ServingMetrics()
    metrics.set_model(info)
    metrics.start_at_zero()

    async def predict(request: Request) -> Response:
        try:
            body = await _read_body(request, config.max_body_bytes)
            columns = decode_request(body, features, config.max_rows)
        except RequestError as exc:
            metrics.errors.labels(exc.reason).inc()
            return JSONResponse({"detail": exc.problems}, status_code=exc.status)
        try:
            scores = await run_in_threadpool(predictor.predict_proba, columns)
        except Exception as exc:  # a model that raises must not crash the server
            metrics.errors.labels("model").inc()
            return JSONResponse(
                {
                    "detail": [
                        {"row": None, "field": "model", "error": f"{type(exc).__name__}: {exc}"}
                    ]
                },
                status_code=500,
            )
        classes = (scores >= config.decision_threshold).astype(np.int64)
        confidence = np.where(classes == 1, scores, 1.0 - scores)
        metrics.predictions.inc(len(scores))
        positives = int(classes.sum())
        if positives:
            metrics.by_class.labels("1").inc(positives)
        if len(scores) - positives:
            metrics.by_class.labels("0").inc(len(scores) - positives)
        for value in confidence:
            metrics.confidence.observe(float(value))
        return JSONResponse(
            {
                "predictions": [
                    {"class": int(c), "probability": float(p)}
                    for c, p in zip(classes, scores, strict=True)
                ],
                "model_version": info.version,
            }
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready", "model": info.uri})

    async def model_info(request: Request) -> Response:
        return JSONResponse(
            {
                "uri": info.uri,
                "flavor": info.flavor,
                "version": info.version,
                "features": features_to_json(features),
                "schema": config.schema,
                "load_seconds": info.load_seconds,
                "max_rows": config.max_rows,
                "decision_threshold": config.decision_threshold,
            }
        )

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/model/info", model_info, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )
    app.add_middleware(_Instrumented, metrics=metrics)
    app.state.metrics = metrics
    return app


ENV_MODEL = "MLCHECK_SERVE_MODEL"
ENV_MAX_ROWS = "MLCHECK_SERVE_MAX_ROWS"
ENV_MAX_BODY = "MLCHECK_SERVE_MAX_BODY_BYTES"
ENV_THRESHOLD = "MLCHECK_SERVE_DECISION_THRESHOLD"
ENV_SCHEMA = "MLCHECK_SERVE_SCHEMA"


def app_from_env() -> Starlette:
    """The uvicorn factory: loads the model `MLCHECK_SERVE_MODEL` names (in each worker)."""
    uri = os.environ.get(ENV_MODEL)
    if not uri:
        raise ConfigError(
            f"{ENV_MODEL} is not set; start the server with `mlcheck serve --model URI`"
        )
    config = ServingConfig(
        max_rows=int(os.environ.get(ENV_MAX_ROWS, "1000")),
        max_body_bytes=int(os.environ.get(ENV_MAX_BODY, "1048576")),
        decision_threshold=float(os.environ.get(ENV_THRESHOLD, "0.5")),
        schema=os.environ.get(ENV_SCHEMA) or None,
    )
    return create_app(load_model(uri), config)
