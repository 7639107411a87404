"""What reaches the serving core from outside its contract: a body not sent as JSON (what a web
page may POST without asking), a Host it does not answer to, bytes that are not UTF-8, keys that
appear twice, a fault of the server itself, and request heads too large or never finished.

Each is refused with a short JSON answer that carries X-Request-ID and is counted by reason.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mlcheck.errors import ConfigError
from mlcheck.features import FeatureKind, FeatureSpec
from mlcheck.models.load import load_model
from mlcheck.serving import app as serving
from mlcheck.serving.app import create_app
from mlcheck.serving.codec import RequestError, decode_request
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.metrics import ERROR_REASONS, HEAD_REFUSAL_REASONS
from mlcheck.serving.protocol import HEAD_REFUSALS, MAX_HEAD_BYTES, MAX_HEADERS
from tests.test_codec import RECORD
from tests.test_hostile_clients import LEAKS, _count, _predict_status, app, client

__all__ = ["app", "client"]  # fixtures shared with tests/test_hostile_clients.py

JSON = {"content-type": "application/json"}
BODY = json.dumps(RECORD).encode()


def _refused(response: Any, status: int, field: str) -> str:
    """The error of a one-problem refusal, after checking its shape."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    assert response.headers.get("x-request-id")
    [problem] = response.json()["detail"]
    assert problem["field"] == field and not any(leak in response.text for leak in LEAKS)
    return str(problem["error"])


# --- item 9: only JSON is acted on; an optional list of Host names --------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,  # fetch() with a Blob or ArrayBuffer body sends none
        "text/plain;charset=UTF-8",  # fetch() with a string body
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonp",
        "application/json-patch+json",
    ],
)
def test_a_predict_body_not_sent_as_json_gets_415_counted(app, client, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    before = _count(app, "ml_prediction_errors_total", reason="media_type")
    before_415 = _predict_status(app, "415")
    response = client.post("/predict", content=BODY, headers=headers)
    error = _refused(response, 415, "content-type")
    assert "application/json" in error
    assert _count(app, "ml_prediction_errors_total", reason="media_type") == before + 1
    assert _predict_status(app, "415") == before_415 + 1


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_with_or_without_a_utf8_charset_is_served(client, content_type):
    response = client.post("/predict", content=BODY, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


def test_model_reload_from_this_machine_needs_a_json_request(small_model_dir):
    config = ServingConfig(str(small_model_dir))
    local = TestClient(create_app(load_model(config.model), config), client=("127.0.0.1", 5000))
    with local:
        for headers in ({}, {"content-type": "text/plain"}):
            assert "application/json" in _refused(
                local.post("/model/reload", content=b"", headers=headers), 415, "content-type"
            )
        assert local.post("/model/reload", headers=JSON).status_code == 409  # not an alias
        metrics = local.get("/metrics").text
    assert 'http_requests_total{endpoint="/model/reload",method="POST",status="415"} 2.0' in metrics


def test_allowed_hosts_refuse_any_other_host_with_400_counted(small_model_dir):
    config = ServingConfig(str(small_model_dir), allowed_hosts=("API.example.com", "*.internal"))
    served = create_app(load_model(config.model), config)
    with TestClient(served, base_url="http://api.example.com:8000") as allowed:
        assert allowed.post("/predict", content=BODY, headers=JSON).status_code == 200
        for host in ("api.example.com", "svc.internal:81", "a.b.internal"):
            assert allowed.get("/health", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "api.example.com.evil", "internal", "127.0.0.1:8000"):
            response = allowed.post("/predict", content=BODY, headers={**JSON, "host": host})
            assert "--allowed-hosts" in _refused(response, 400, "host"), host
        assert allowed.get("/model/info", headers={"host": "evil.example"}).status_code == 400
    assert _count(served, "ml_prediction_errors_total", reason="host") == 4
    assert (
        _count(served, "http_requests_total", endpoint="/model/info", method="GET", status="400")
        == 1
    )


def test_any_host_is_served_by_default(client):
    assert client.get("/health", headers={"host": "anything.example:1"}).status_code == 200


def test_allowed_hosts_are_checked_and_carried_to_the_workers(tmp_path):
    model = str(tmp_path)
    config = ServingConfig(model, allowed_hosts=(" Example.com", "[::1]", "", "*.svc.local"))
    assert config.allowed_hosts == ("example.com", "::1", "*.svc.local")
    assert ServingConfig.from_env(config.to_env()) == config
    assert config.to_args()[-2:] == ["--allowed-hosts", "example.com,::1,*.svc.local"]
    assert ServingConfig.from_env(ServingConfig(model).to_env()).allowed_hosts == ()
    for bad in ("example.com:8000", "a b", "http://x", "::1::2"):
        with pytest.raises(ConfigError, match="--allowed-hosts"):
            ServingConfig(model, allowed_hosts=(bad,))


def test_the_host_is_read_without_its_port():
    assert serving._host([(b"host", b"Example.COM:8000")]) == "example.com"
    assert serving._host([(b"host", b"[::1]:8000")]) == "::1"
    assert serving._host([(b"host", b"::1")]) == "::1"
    assert serving._host([]) is None
    assert not serving._host_allowed(None, ("example.com",))


# --- item 10: bytes that are not UTF-8, repeated keys, server faults ------------------------


@pytest.mark.parametrize(
    "raw",
    [b'"m\xffn"', b'"m\xed\xa0\x80n"', b'"\xc3"', b'"\xf4\x90\x80\x80"'],
    ids=["invalid-byte", "encoded-surrogate", "truncated", "beyond-unicode"],
)
def test_bytes_that_are_not_utf8_in_a_string_get_400_counted(app, client, raw):
    body = BODY.replace(b'"management"', raw)
    assert body != BODY
    before = _count(app, "ml_prediction_errors_total", reason="malformed")
    before_400 = _predict_status(app, "400")
    error = _refused(client.post("/predict", content=body, headers=JSON), 400, "body")
    assert "not UTF-8" in error
    assert _count(app, "ml_prediction_errors_total", reason="malformed") == before + 1
    assert _predict_status(app, "400") == before_400 + 1


def test_a_key_no_utf8_can_hold_is_named_not_a_500(client):
    response = client.post("/predict", content=b'{"\\ud800": 1}', headers=JSON)
    assert response.status_code == 422 and response.headers.get("x-request-id")
    assert "\\ud800" in {p["field"] for p in response.json()["detail"]}


def test_a_key_that_appears_twice_gets_422_naming_it(app, client):
    before = _count(app, "ml_prediction_errors_total", reason="invalid")
    body = BODY[:-1] + b', "age": 99}'  # the last one would win, silently
    response = client.post("/predict", content=body, headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"row": 0, "field": "age", "error": "appears 2 times in one object; a key may appear once"}
    ]
    batch = b'{"instances": [%s, %s]}' % (BODY, BODY[:-1] + b', "job": "admin.", "job": "x"}')
    detail = client.post("/predict", content=batch, headers=JSON).json()["detail"]
    assert [(p["row"], p["field"]) for p in detail] == [(1, "job")]
    assert "3 times" in detail[0]["error"]
    twice = b'{"instances": [%s], "instances": [%s]}' % (BODY, BODY)
    detail = client.post("/predict", content=twice, headers=JSON).json()["detail"]
    assert [(p["row"], p["field"]) for p in detail] == [(None, "instances")]
    assert _count(app, "ml_prediction_errors_total", reason="invalid") == before + 3


FREE = (FeatureSpec("t", FeatureKind.CATEGORICAL), FeatureSpec("x", FeatureKind.NUMERIC))


@pytest.mark.parametrize(
    "body",
    [
        b'{"t": "12:30", "x": 1}',
        b'{"t": "a\\":b", "x": 1}',
        b'{"t" : "\\u0031:", "x":1}',
        b'{"instances": [{"t": "::", "x": 1}, {"x": 2, "t": "\\"{:}\\""}]}',
    ],
)
def test_colons_and_escapes_inside_strings_are_not_keys(body):
    assert decode_request(body, FREE, 10)["x"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"t": "12:30", "x": 1, "t": "a"}',
        b'{"t": "a\\":b", "x" : 1, "x":2}',
        b'{"instances": [{"t": "::", "x": 1}, {"x": 2, "t": "b", "x": {"y": 1}}]}',
    ],
)
def test_a_repeated_key_is_found_whatever_the_strings_hold(body):
    with pytest.raises(RequestError) as raised:
        decode_request(body, FREE, 10)
    assert raised.value.status == 422
    assert "appears 2 times" in raised.value.problems[0]["error"]


_KEYS = st.text(st.sampled_from('ab:"\\{}[] é'), max_size=3)
_JSON_VALUES = st.recursive(
    st.none() | st.integers(-5, 5) | _KEYS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(st.tuples(_KEYS, inner), max_size=4).map(lambda pairs: ("object", pairs))
    ),
    max_leaves=12,
)


def _dump(value: Any, ascii_only: bool, space: str) -> str:
    if isinstance(value, tuple):
        inner = ", ".join(
            json.dumps(k, ensure_ascii=ascii_only) + space + ":" + _dump(v, ascii_only, space)
            for k, v in value[1]
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v, ascii_only, space) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def _has_repeats(value: Any) -> bool:
    if isinstance(value, tuple):
        keys = [k for k, _ in value[1]]
        return len(set(keys)) < len(keys) or any(_has_repeats(v) for _, v in value[1])
    return isinstance(value, list) and any(_has_repeats(v) for v in value)


@settings(max_examples=300, deadline=None, database=None)
@given(
    pairs=st.lists(st.tuples(_KEYS, _JSON_VALUES), max_size=4),
    ascii_only=st.booleans(),
    space=st.sampled_from(["", " "]),
)
def test_repeated_keys_are_found_in_any_body(pairs, ascii_only, space):
    """The count of colons never hides a repeated key, however the strings are written."""
    body = _dump(("object", pairs), ascii_only, space).encode()
    try:
        decode_request(body, FREE, 10)
    except RequestError as exc:
        repeated = any("appears" in p["error"] for p in exc.problems)
    else:
        repeated = False
    assert repeated == _has_repeats(("object", pairs)), body


def test_a_fault_of_the_server_gets_a_json_500_with_a_request_id(app, client, monkeypatch):
    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(serving, "decode_request", broken)
    before = _count(app, "ml_prediction_errors_total", reason="internal")
    headers = {**JSON, "x-request-id": "fault-1"}
    response = client.post("/predict", content=BODY, headers=headers)
    error = _refused(response, 500, "server")
    assert response.headers["x-request-id"] == "fault-1" and "fault-1" in error
    assert "a bug" not in response.text
    assert _count(app, "ml_prediction_errors_total", reason="internal") == before + 1


def test_every_new_reason_is_exported_from_the_start(client):
    assert set(HEAD_REFUSALS) == set(HEAD_REFUSAL_REASONS)
    assert {"media_type", "host", "internal"} <= set(ERROR_REASONS)
    text = client.get("/metrics").text
    for reason in HEAD_REFUSAL_REASONS:
        assert f'http_head_refusals_total{{reason="{reason}"}}' in text
    assert 'http_requests_total{endpoint="/predict",method="POST",status="415"}' in text


# --- request heads, against a real server (uvicorn with mlcheck's httptools protocol) ------


@pytest.fixture(scope="module")
def server(small_model_dir) -> Iterator[Any]:
    from mlcheck.serving.process import ServedModel

    config = ServingConfig(
        str(small_model_dir), header_timeout_s=1.0, allowed_hosts=("127.0.0.1", "localhost")
    )
    with ServedModel(config) as served:
        yield served


def _exchange(port: int, raw: bytes, timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` on a new connection; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close before the end
            sock.sendall(raw)
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = [
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ]
            if length and len(body) >= length[0]:
                break
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line and not line.startswith("#")
    }


def _rss_mb(pid: int) -> dict[str, float]:
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith("Vm"))
    return {k: int(v.split()[0]) / 1024 for k, v in fields.items() if k in ("VmRSS", "VmHWM")}


HEAD = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.mark.slow
def test_heads_too_large_or_with_too_many_headers_get_431_counted(server):
    refusals = 'http_head_refusals_total{reason="%s"}'
    before = _metrics(server.url)
    cases = {
        "header_too_large": HEAD + b"X-Big: " + b"a" * 1_048_576 + b"\r\n\r\n",
        "too_many_headers": HEAD + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n",
    }
    for reason, raw in cases.items():
        status, headers, body = _exchange(server.port, raw)
        assert status == 431, (reason, body[:200])
        assert headers["x-request-id"] and headers["connection"] == "close"
        assert json.loads(body)["detail"][0]["field"] == "headers"
    # just over the bound, all in one read: the head is measured, not the reads
    over = HEAD + b"X-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n"
    assert _exchange(server.port, over)[0] == 431
    after = _metrics(server.url)
    assert after[refusals % "header_too_large"] == before[refusals % "header_too_large"] + 2
    assert after[refusals % "too_many_headers"] == before[refusals % "too_many_headers"] + 1
    # an honest request near the bounds is served
    body = json.dumps(RECORD).encode()
    honest = (
        HEAD
        + b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        + b"Cookie: "
        + b"c" * 16_000
        + b"\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS - 4))
        + b"\r\n"
        + body
    )
    status, headers, answer = _exchange(server.port, honest)
    assert status == 200, answer[:300]


@pytest.mark.slow
def test_unfinished_64_mb_headers_do_not_grow_the_server(server):
    """Four connections each send a header line of 64 MB that never ends."""
    pid = server.pid
    assert pid is not None
    counted = 'http_head_refusals_total{reason="header_too_large"}'
    before, refused = _rss_mb(pid), _metrics(server.url)[counted]
    answers: list[bytes] = []

    def flood() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
            with contextlib.suppress(OSError):  # the server answers and closes
                sock.sendall(HEAD + b"X-Big: ")
                for _ in range(64):
                    sock.sendall(b"a" * 1_048_576)
            with contextlib.suppress(OSError):
                answers.append(sock.recv(100)[:12])

    started = time.monotonic()
    threads = [threading.Thread(target=flood) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    growth = _rss_mb(pid)["VmHWM"] - before["VmHWM"]
    assert growth < 20, f"peak memory grew by {growth:.0f} MB"
    assert set(answers) <= {b"HTTP/1.1 431", b""}, answers  # b"": reset before it was read
    assert _metrics(server.url)[counted] == refused + 4
    assert time.monotonic() - started < 5  # refused at once, not at the header timeout


@pytest.mark.slow
def test_refusals_before_any_route_carry_a_request_id_and_are_counted(server):
    refusals = 'http_head_refusals_total{reason="%s"}'
    before = _metrics(server.url)
    status, headers, _ = _exchange(server.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400 and headers["x-request-id"]
    status, headers, _ = _exchange(server.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert status == 408 and headers["x-request-id"]  # the head never ends: 1 s timeout
    after = _metrics(server.url)
    for reason in ("malformed", "head_timeout"):
        assert after[refusals % reason] == before[refusals % reason] + 1, reason


@pytest.mark.slow
def test_a_real_server_refuses_what_a_web_page_can_send(server):
    """Over HTTP: a text/plain POST to /predict and /model/reload (from this machine), a Host
    it does not answer to, bytes that are not UTF-8."""
    text = b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
    status, headers, body = _exchange(server.port, HEAD + text)
    assert status == 415 and headers["x-request-id"], body
    reload = b"POST /model/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    assert _exchange(server.port, reload)[0] == 415
    json_head = b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    rebound = b"POST /predict HTTP/1.1\r\nHost: attacker.example:8000\r\n"
    assert _exchange(server.port, rebound + json_head % len(BODY) + BODY)[0] == 400
    bad = BODY.replace(b'"management"', b'"m\xffn"')
    status, headers, body = _exchange(server.port, HEAD + json_head % len(bad) + bad)
    assert status == 400 and headers["x-request-id"] and b"not UTF-8" in body
    assert _exchange(server.port, HEAD + json_head % len(BODY) + BODY)[0] == 200
    after = _metrics(server.url)
    for reason in ("media_type", "host", "malformed"):
        assert after[f'ml_prediction_errors_total{{reason="{reason}"}}'] >= 1, reason
