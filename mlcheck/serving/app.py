"""The serving core: a Starlette app that predicts, reports health and exports metrics.

`create_app(predictor, config)` builds the app for a loaded model; `app_from_env()` is the
factory uvicorn calls in each worker (`mlcheck serve` puts its `ServingConfig` in the
environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlcheck.errors import ConfigError
from mlcheck.features import FeatureSpec, features_to_json
from mlcheck.models.load import Predictor, load_model
from mlcheck.serving.capture import Capture, CaptureBatch
from mlcheck.serving.codec import RequestError, decode_request
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.logs import REQUEST_ID_HEADER, JsonLines, RequestNote, request_id
from mlcheck.serving.metrics import CLIENT_CLOSED_REQUEST, ServingMetrics
from mlcheck.serving.openapi import openapi_document
from mlcheck.serving.reload import ALIAS_URI, ModelSlot, Reload, Reloader
from mlcheck.serving.responses import answer, class_labels
from mlcheck.stats.tasks import Task

__all__ = ["app_from_env", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

#: Requests of at most this many rows are predicted on the event loop when the model's small
#: predicts are a quick native call (`Predictor.inline_ok`: the XGBoost fast path): handing a
#: sub-millisecond predict to a worker thread and back cost more than the predict (at 8
#: connections, 821 vs 1243 requests/s, p99 20 vs 10 ms). Larger batches and other models (a
#: pyfunc may call out or sleep) go to a thread, so that other connections are served meanwhile.
INLINE_ROWS = 64

#: Encodes the predictions (C, ~4x faster than `json.dumps` for a 1000-row answer).
_ENCODER = msgspec.json.Encoder()
ROUTES = (
    "/predict",
    "/health",
    "/ready",
    "/model/info",
    "/model/reload",
    "/metrics",
    "/openapi.json",
)
#: Clients that may POST /model/reload.
LOOPBACK = ("127.0.0.1", "::1")
#: A request of at most this many rows is kept as the rows a new model version is checked on.
PROBE_ROWS = 100
_LOGGER = logging.getLogger("uvicorn.error")
#: What a POST body must be sent as: JSON, in UTF-8 (what a browser sends without asking the
#: server first, text/plain or form data, or a body with no type, is refused with 415).
_JSON_TYPE = re.compile(r'application/json\s*(;\s*charset\s*=\s*("utf-8"|utf-8)\s*)?', re.I)

#: Where a route finds the request's id and leaves what its log line says (rows, predictions,
#: reason).
NOTE_KEY = "mlcheck.note"


class _Instrumented:
    """ASGI middleware: counts every HTTP request by route and status and times it, gives it
    a request id (the client's `X-Request-ID` or a new one, sent back in the response) and,
    with `log`, writes its JSON log line.

    A client that goes away before the answer is counted as 499 (nginx's "client closed
    request"), not as a server error: there is nobody left to answer.

    The request is counted and logged just before its response starts (the status line is
    sent at once, and a client may act on it before the body arrives), so a client that has
    its answer finds its request in /metrics and its line in the log.

    With `allowed_hosts`, a request whose Host header names another host gets 400 (a web page
    on another name that resolves to this machine cannot read or write through it). A fault
    of the server gets a JSON 500 that carries the request id like every other answer (and is
    raised on, for the server to log it).
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: ServingMetrics,
        log: JsonLines | None = None,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        self.app, self.metrics, self.log = app, metrics, log
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in ROUTES else "other"
        method = scope["method"]
        status, started_response, finished = 500, False, False
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        note = scope[NOTE_KEY] = RequestNote(rid)

        def finish() -> None:
            nonlocal finished
            finished = True
            seconds = time.perf_counter() - started
            self.metrics.observe_request(endpoint, method, status, seconds)
            if self.log is not None:
                self.log.emit(
                    "request",
                    request_id=rid,
                    route=endpoint,
                    method=method,
                    status=status,
                    latency_ms=round(seconds * 1000.0, 3),
                    rows=note.rows,
                    model_version=note.model_version,
                    predictions=note.predictions,
                    reason=note.reason,
                )

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, rid.encode())]
                message = {**message, "headers": headers}
                finish()  # before the client can see its status: uvicorn sends it at once
            await send(message)

        def refuse(status: int, reason: str, field: str, error: str) -> Response:
            if endpoint == "/predict":
                self.metrics.errors.labels(reason).inc()
            note.reason = reason
            return JSONResponse({"detail": [{"row": None, "field": field, "error": error}]}, status)

        try:
            if self.allowed_hosts:
                host = _host(scope["headers"])
                if not _host_allowed(host, self.allowed_hosts):
                    shown = "no Host header" if host is None else f"Host {host[:60]!r}"
                    error = f"{shown} is not a name this server answers to (--allowed-hosts)"
                    await refuse(400, "host", "host", error)(scope, receive, send_wrapper)
                    return
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            if not started_response:
                status = CLIENT_CLOSED_REQUEST
        except Exception:
            if not started_response:
                error = f"the server failed; its log names request {rid}"
                await refuse(500, "internal", "server", error)(scope, receive, send_wrapper)
            raise
        finally:
            if not finished:
                finish()


def _host(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The host a request's Host header names, without its port (None: no Host header)."""
    for name, value in headers:
        if name == b"host":
            text = value.decode("latin-1").strip().lower()
            if text.startswith("["):  # [IPv6]:port
                return text[1:].split("]", 1)[0]
            return text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return None


def _host_allowed(host: str | None, allowed: tuple[str, ...]) -> bool:
    if host is None:
        return False
    return any(
        host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
        for pattern in allowed
    )


def _not_json(request: Request) -> RequestError | None:
    """A 415 when the request's body is not sent as `application/json` (charset utf-8 at most).

    A web page may send a text/plain, form or untyped POST to any address without asking the
    server first (CORS "simple" requests); a JSON one only after a preflight this server never
    answers. So only JSON reaches a route that acts on a POST."""
    given = request.headers.get("content-type")
    if given is not None and _JSON_TYPE.fullmatch(given.strip()):
        return None
    shown = "is missing" if given is None else f"is {given[:60]!r}"
    error = f"{shown}; send the body as application/json (charset utf-8 if any)"
    return RequestError(415, [{"row": None, "field": "content-type", "error": error}], "media_type")


async def _read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The whole body, or a `RequestError`: 413 beyond `limit` bytes, 408 when it has not
    arrived within `timeout_s` seconds."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_body_unbounded(request, limit)
    except TimeoutError:
        error = f"did not arrive within {timeout_s:g} s (the body timeout)"
        raise RequestError(408, [{"row": None, "field": "body", "error": error}]) from None


async def _read_body_unbounded(request: Request, limit: int) -> bytes:
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


@dataclass(frozen=True)
class Serving:
    """A loaded model as the routes serve it; a reload replaces it whole."""

    predictor: Predictor
    features: tuple[FeatureSpec, ...]
    validated_by: str
    description_json: bytes


def prepare_serving(predictor: Predictor, config: ServingConfig) -> Serving:
    """Check that requests to `predictor` can be validated and describe them (OpenAPI)."""
    info = predictor.info
    if info.features is None and not config.schema:
        raise ConfigError(
            f"model={info.uri!r} has no input signature, so requests cannot be validated; "
            "save it with signature=mlflow.models.infer_signature(X, y), or pass --schema PATH "
            "(a pandera schema of its inputs) to validate requests with that instead"
        )
    features: tuple[FeatureSpec, ...] = info.features or ()
    if config.schema:
        from mlcheck.schema import features_from_schema, load_schema

        exclude = (config.target,) if config.target else ()
        features = features_from_schema(load_schema(config.schema), info.features, exclude)
    validated_by = "signature" if info.features is not None else "schema (no signature)"
    open_text = [f.name for f in features if f.is_categorical and f.categories is None]
    if open_text:
        _LOGGER.warning(
            "mlcheck serve: text input(s) %s accept any value (the model names no categories "
            "and no --schema does); pass --schema checks/schema.yaml (written by mlcheck init) "
            "to refuse unknown categories with 422",
            ", ".join(open_text[:8]),
        )
    description = openapi_document(
        features,
        config.max_rows,
        title=f"mlcheck serving: {info.uri}",
        version=info.version or "unversioned",
        description=f"A {info.flavor} model; requests validated by its {validated_by}.",
        max_body_bytes=config.max_body_bytes,
        body_timeout_s=config.body_timeout_s,
        task=predictor.task or "binary",
        classes=class_labels(predictor.task, predictor.classes) if predictor.task else None,
    )
    return Serving(
        predictor, features, validated_by, json.dumps(description, allow_nan=False).encode()
    )


@dataclass
class ServingState:
    """What the routes share, on `app.state.serving`: the config, the model slot (a reload
    swaps what it holds), the metrics, the JSON log, the capture and the reloader."""

    config: ServingConfig
    slot: ModelSlot
    metrics: ServingMetrics
    log: JsonLines | None
    capture: Capture | None
    reloader: Reloader | None

    def refused(self, note: RequestNote, reason: str) -> None:
        """Count a refused request by its reason and leave the reason for its log line."""
        self.metrics.errors.labels(reason).inc()
        note.reason = reason

    def on_reload(self, result: Reload, new: Serving | None) -> None:
        self.metrics.reloads.labels(result.outcome).inc()
        if new is not None:
            self.metrics.set_model(new.predictor.info)
        if self.log is not None:
            self.log.emit("reload", **result.to_dict())
        elif result.outcome != "unchanged":
            level = logging.INFO if result.outcome == "swapped" else logging.WARNING
            _LOGGER.log(level, "model reload: %s", result.to_dict())


def _state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


def _note(request: Request) -> RequestNote:
    note: RequestNote = request.scope.get(NOTE_KEY) or RequestNote("")
    return note


def _model_failed(state: ServingState, note: RequestNote, error: str) -> Response:
    state.refused(note, "model")
    return JSONResponse({"detail": [{"row": None, "field": "model", "error": error}]}, 500)


async def predict(request: Request) -> Response:
    state, note = _state(request), _note(request)
    config = state.config
    served = state.slot.current  # this request's model, whatever a reload does meanwhile
    predictor, info = served.predictor, served.predictor.info
    note.model_version = info.version
    not_json = _not_json(request)
    if not_json is not None:
        state.refused(note, not_json.reason)
        return JSONResponse({"detail": not_json.problems}, status_code=415)
    try:
        body = await _read_body(request, config.max_body_bytes, config.body_timeout_s)
        columns = decode_request(body, served.features, config.max_rows)
    except RequestError as exc:
        state.refused(note, exc.reason)
        close = {"connection": "close"} if exc.status == 408 else None
        return JSONResponse({"detail": exc.problems}, status_code=exc.status, headers=close)
    except ClientDisconnect:
        state.refused(note, "disconnected")
        raise  # the middleware counts it as a 499
    try:
        rows = note.rows = len(next(iter(columns.values()))) if columns else 0
        if predictor.inline_ok and rows <= INLINE_ROWS:
            outputs = predictor.predict(columns)
        else:
            outputs = await run_in_threadpool(predictor.predict, columns)
        task: Task = predictor.task or "binary"  # set by the first outputs of a plain pyfunc
    except Exception as exc:  # a model that raises must not crash the server
        return _model_failed(state, note, f"{type(exc).__name__}: {exc}")
    if not np.isfinite(outputs).all():
        return _model_failed(state, note, "returned non-finite outputs")
    result = answer(task, outputs, predictor.classes, config.decision_threshold)
    state.metrics.record(result)
    if rows <= PROBE_ROWS:
        state.slot.recent = columns  # what a new version is checked on
    if state.capture is not None or state.log is not None:
        predicted = result.classes if task != "regression" else result.values.tolist()
        note.predictions = predicted
        if state.capture is not None:
            batch = CaptureBatch(note.request_id, info.version, time.time(), columns, predicted)
            state.capture.put(batch)
    content = {"predictions": result.predictions, "model_version": info.version}
    return Response(_ENCODER.encode(content), media_type="application/json")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    return JSONResponse(
        {"status": "ready", "model": _state(request).slot.current.predictor.info.uri}
    )


async def model_info(request: Request) -> Response:
    state = _state(request)
    config, served = state.config, state.slot.current
    predictor, info = served.predictor, served.predictor.info
    classes = None if predictor.classes is None else [str(c) for c in predictor.classes]
    return JSONResponse(
        {
            "uri": info.uri,
            "flavor": info.flavor,
            "version": info.version,
            "features": features_to_json(served.features),
            "validated_by": served.validated_by,
            "schema": config.schema,
            "load_seconds": info.load_seconds,
            "max_rows": config.max_rows,
            "decision_threshold": config.decision_threshold,
            "task": predictor.task,
            "classes": classes,
        }
    )


async def metrics_endpoint(request: Request) -> Response:
    return Response(_state(request).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return Response(_state(request).slot.current.description_json, media_type="application/json")


async def model_reload(request: Request) -> Response:
    state = _state(request)
    client = request.client.host if request.client else ""
    if client not in LOOPBACK:
        error = f"only a client on this machine may reload the model (not {client!r})"
        return JSONResponse({"detail": [{"field": "client", "error": error}]}, 403)
    not_json = _not_json(request)
    if not_json is not None:
        _note(request).reason = not_json.reason
        return JSONResponse({"detail": not_json.problems}, status_code=415)
    if state.reloader is None:
        error = f"model={state.config.model!r} is not a registry alias (models:/NAME@ALIAS)"
        return JSONResponse({"detail": [{"field": "model", "error": error}]}, 409)
    return JSONResponse((await state.reloader.reload()).to_dict())


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Start the capture writer and the periodic reload; stop them when the server stops."""
    state: ServingState = app.state.serving
    every, reloader, capture = state.config.reload_every_s, state.reloader, state.capture
    task = asyncio.create_task(reloader.run(every)) if reloader and every else None
    if capture is not None:
        capture.start()
    try:
        yield
    finally:
        if capture is not None:
            await asyncio.to_thread(capture.close)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


_ROUTES = [
    Route("/predict", predict, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/model/info", model_info, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/model/reload", model_reload, methods=["POST"]),
]


def _serving_state(predictor: Predictor, config: ServingConfig) -> ServingState:
    """The routes' shared state for a loaded model (its reloader when it is a registry alias)."""
    metrics = ServingMetrics()
    metrics.set_model(predictor.info)
    metrics.start_at_zero(predictor.task, predictor.classes)
    capture = (
        Capture(
            config.capture_dir,
            on_written=metrics.captured.inc,
            on_dropped=metrics.capture_dropped.inc,
        )
        if config.capture_dir
        else None
    )
    log = JsonLines() if config.log_format == "json" else None
    state = ServingState(
        config, ModelSlot(prepare_serving(predictor, config)), metrics, log, capture, None
    )
    if ALIAS_URI.match(config.model):
        state.reloader = Reloader(
            config.model,
            config.task,
            state.slot,
            lambda loaded: prepare_serving(loaded, config),
            lambda serving: serving.predictor,
            lambda serving: serving.features,
            state.on_reload,
        )
    elif config.reload_every_s:
        raise ConfigError(
            f"--reload-every is set but --model={config.model!r} is not a registry alias; "
            "serve models:/NAME@ALIAS to follow the alias, or drop --reload-every"
        )
    return state


def create_app(predictor: Predictor, config: ServingConfig) -> Starlette:
    """The serving app for a loaded model. Requests are validated against its features (and
    the config's schema); `config.model` is not loaded again. A request body must arrive within
    `config.body_timeout_s` seconds. A registry alias (`models:/NAME@ALIAS`) can be reloaded
    with POST /model/reload, and every `config.reload_every_s` seconds when that is set."""
    state = _serving_state(predictor, config)
    app = Starlette(routes=_ROUTES, lifespan=_lifespan)
    app.state.serving = state
    app.state.metrics = state.metrics
    app.add_middleware(
        _Instrumented, metrics=state.metrics, log=state.log, allowed_hosts=config.allowed_hosts
    )
    info = predictor.info
    if state.log is not None:
        state.log.emit(
            "start",
            model=info.uri,
            model_version=info.version,
            flavor=info.flavor,
            task=predictor.task,
            load_seconds=round(info.load_seconds, 3),
            pid=os.getpid(),
        )
    return app


def app_from_env() -> Starlette:
    """The uvicorn factory: each worker loads the model its `ServingConfig` names, once.

    Everything alive once the model is loaded (the model and the libraries: ~200k objects)
    is moved out of the garbage collector's reach: a full collection over them took ~110 ms,
    which every few thousand requests landed on one request's latency (the p99).
    """
    config = ServingConfig.from_env()
    app = create_app(load_model(config.model, config.task), config)
    gc.collect()
    gc.freeze()
    return app
