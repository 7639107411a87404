"""The serving core: a Starlette app that predicts, reports health and exports metrics.

`create_app(predictor, config)` builds the app for a loaded model; `app_from_env()` is the
factory uvicorn calls in each worker (`mlcheck serve` puts its `ServingConfig` in the
environment).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
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
from mlcheck.models.load import Predictor, load_model
from mlcheck.serving.codec import RequestError, decode_request
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.metrics import ServingMetrics

__all__ = ["app_from_env", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

ROUTES = ("/predict", "/health", "/ready", "/model/info", "/metrics")


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


def create_app(predictor: Predictor, config: ServingConfig) -> Starlette:
    """The serving app for a loaded model. Requests are validated against its features (and
    the config's schema); `config.model` is not loaded again."""
    info = predictor.info
    if info.features is None:
        raise ConfigError(
            f"model={info.uri!r} has no input signature, so requests cannot be validated; "
            "save it with signature=mlflow.models.infer_signature(X, y)"
        )
    features = info.features
    if config.schema:
        from mlcheck.schema import features_from_schema, load_schema

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


def app_from_env() -> Starlette:
    """The uvicorn factory: each worker loads the model its `ServingConfig` names, once."""
    config = ServingConfig.from_env()
    return create_app(load_model(config.model), config)
