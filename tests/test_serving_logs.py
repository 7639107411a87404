"""`mlcheck serve --log-format json`: one JSON line per request and per server event, a request
id from X-Request-ID (or a new one) sent back in the response."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from mlcheck.errors import ConfigError
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.logs import request_id
from mlcheck.serving.process import ServedModel
from tests.test_codec import RECORD


@pytest.mark.parametrize("given", [b"abc-123", b"trace:0001.a_b", b"x" * 128])
def test_a_plausible_client_request_id_is_kept(given):
    assert request_id([(b"content-type", b"x"), (b"x-request-id", given)]) == given.decode()


@pytest.mark.parametrize("given", [b"", b"x" * 129, b'a"b', b"a\nb", b"a b", "é".encode(), b"}{"])
def test_any_other_request_id_is_replaced_by_a_new_one(given):
    made = request_id([(b"x-request-id", given)])
    assert made != given.decode(errors="replace") and len(made) == 32
    assert request_id([]) != request_id([])  # new each time


def test_an_unknown_log_format_is_a_config_error(small_model_dir):
    with pytest.raises(ConfigError, match="--log-format='xml'"):
        ServingConfig(str(small_model_dir), log_format="xml")


def _post(url: str, body: dict, request_id: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if request_id:
        headers["X-Request-ID"] = request_id
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["X-Request-ID"]
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Request-ID"]


@pytest.mark.slow
def test_json_logs_have_a_line_per_request_with_its_id(small_model_dir):
    config = ServingConfig(str(small_model_dir), log_format="json")
    with ServedModel(config) as served:
        url = f"{served.url}/predict"
        ok = _post(url, {"instances": [RECORD, RECORD]}, "order-42")
        bad = _post(url, {**RECORD, "age": "old"})
        lines = [json.loads(line) for line in served.logs().splitlines() if line.startswith("{")]
    assert ok == (200, "order-42")
    assert bad[0] == 422 and len(bad[1]) == 32  # a new id, returned to the client
    events = {line["event"] for line in lines}
    assert {"start", "request"} <= events
    start = next(line for line in lines if line["event"] == "start")
    assert start["model"] == str(small_model_dir) and start["task"] == "binary"
    requests = {line["request_id"]: line for line in lines if line["event"] == "request"}
    good = requests["order-42"]
    assert good["route"] == "/predict" and good["status"] == 200 and good["rows"] == 2
    assert len(good["predictions"]) == 2 and good["reason"] is None
    assert good["latency_ms"] > 0 and "time" in good
    refused = requests[bad[1]]
    assert refused["status"] == 422 and refused["reason"] == "invalid"
    assert refused["predictions"] == []


@pytest.mark.parametrize("chunks", [1, 3])
def test_a_request_is_logged_and_counted_before_its_answer_starts(chunks):
    """A client that has its answer finds its line in the log and its request in /metrics:
    both are written before the response's status is sent (uvicorn sends it at once, and a
    client such as urllib acts on a 4xx status before reading the body), not after it."""
    import asyncio
    import io

    from mlcheck.serving.app import _Instrumented
    from mlcheck.serving.logs import JsonLines
    from mlcheck.serving.metrics import ServingMetrics

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 422, "headers": []})
        for i in range(chunks):
            await send({"type": "http.response.body", "body": b"x", "more_body": i < chunks - 1})

    stream, metrics, seen = io.StringIO(), ServingMetrics(), []

    def counted() -> float:
        labels = {"endpoint": "/predict", "method": "POST", "status": "422"}
        return metrics.registry.get_sample_value("http_requests_total", labels) or 0.0

    async def send(message):
        seen.append((message["type"], stream.getvalue().count("\n"), counted()))

    scope = {"type": "http", "path": "/predict", "method": "POST", "headers": []}
    asyncio.run(_Instrumented(app, metrics, JsonLines(stream))(scope, None, send))
    assert seen[0] == ("http.response.start", 1, 1.0)  # there before the status goes out
    assert all(lines == 1 and count == 1.0 for _, lines, count in seen)  # once, not again
    assert len(seen) == 1 + chunks
    assert json.loads(stream.getvalue())["status"] == 422
