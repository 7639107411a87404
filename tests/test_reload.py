"""`mlcheck serve --model models:/NAME@ALIAS --reload-every`: against a real MLflow registry,
the alias moves under a steady load and the new version serves with no failed request; a
version that does not load, or whose inputs differ, keeps the old one serving."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request

import pytest

from mlcheck.errors import ConfigError
from mlcheck.models.training import train_xgboost
from mlcheck.probes.http import PredictConnection
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.process import ServedModel
from mlcheck.serving.reload import RELOAD_OUTCOMES, parse_duration
from tests.test_codec import RECORD

INTERVAL_S = 2.0


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("250ms", 0.25), ("2", 2)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_a_bad_duration_names_the_option():
    with pytest.raises(ConfigError, match="--reload-every='soon'"):
        parse_duration("soon")


def test_reload_needs_a_registry_alias(small_model_dir):
    from mlcheck.models.load import load_model
    from mlcheck.serving.app import create_app

    config = ServingConfig(str(small_model_dir), reload_every_s=30)
    with pytest.raises(ConfigError, match="not a registry alias"):
        create_app(load_model(config.model), config)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _post(url: str) -> dict:
    request = urllib.request.Request(
        url, data=b"", method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _metric(url: str, line_start: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _reloads(url: str) -> float:
    """The reload checks done so far, whatever their outcome."""
    return sum(_metric(url, f'ml_model_reload_total{{outcome="{o}"}}') for o in RELOAD_OUTCOMES)


#: Answers the load waits for at each step (about a second of it on a busy 2-core machine).
ANSWERS = 50


class _Load:
    """Posts one record after another from two connections and keeps every status."""

    def __init__(self, port: int) -> None:
        self.statuses: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(port,)) for _ in range(2)]

    def _run(self, port: int) -> None:
        connection = PredictConnection("127.0.0.1", port)
        body = json.dumps(RECORD).encode()
        while not self._stop.is_set():
            self.statuses.append(connection.post(body))
        connection.close()

    def wait_for(self, count: int, timeout_s: float = 60) -> None:
        """Until `count` answers have come back (the load has run that long)."""
        deadline = time.monotonic() + timeout_s
        while len(self.statuses) < count:
            assert time.monotonic() < deadline, f"{len(self.statuses)} answers, not {count}"
            time.sleep(0.02)

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


@pytest.mark.slow
def test_the_alias_moves_under_load_and_a_broken_version_keeps_the_old_one(
    tmp_path, monkeypatch, small_model_dir, small_bank, sklearn_model_dir, mlflow_service
):
    from mlflow import MlflowClient

    from mlcheck.models.registry import register_model

    service = mlflow_service  # the session's (tests/conftest.py); this test registers bank-live
    monkeypatch.setenv("MLFLOW_TRACKING_URI", service.url)
    client = MlflowClient(tracking_uri=service.url)
    first = register_model(small_model_dir, "bank-live", "champion")
    other = train_xgboost(small_bank, tmp_path / "v2", rounds=15, seed=3)
    second = register_model(other, "bank-live")
    broken_dir = tmp_path / "broken"
    shutil.copytree(other, broken_dir)
    (broken_dir / "model.ubj").write_bytes(b"not a model")
    broken = register_model(broken_dir, "bank-live")
    elsewhere = register_model(sklearn_model_dir, "bank-live")  # other inputs

    config = ServingConfig("models:/bank-live@champion", reload_every_s=INTERVAL_S)
    with ServedModel(config) as served:
        assert _get(f"{served.url}/model/info")["version"] == first
        with _Load(served.port) as load:
            load.wait_for(ANSWERS)  # the load runs before the alias moves
            client.set_registered_model_alias("bank-live", "champion", second)
            moved = time.monotonic()
            while _get(f"{served.url}/model/info")["version"] != second:
                assert time.monotonic() - moved < 2 * INTERVAL_S + 15, served.logs()[-2000:]
                time.sleep(0.1)
            took = time.monotonic() - moved
            load.wait_for(len(load.statuses) + ANSWERS)  # and goes on after the swap
        assert load.statuses and set(load.statuses) == {"200"}, set(load.statuses)
        assert took < 2 * INTERVAL_S + 15
        assert _metric(served.url, 'ml_model_reload_total{outcome="swapped"}') == 1
        assert (
            f'version="{second}"'
            in urllib.request.urlopen(f"{served.url}/metrics", timeout=10).read().decode()
        )

        client.set_registered_model_alias("bank-live", "champion", broken)
        result = _post(f"{served.url}/model/reload")
        assert result["outcome"] == "load_failed" and result["serving"] == second
        assert result["candidate"] == broken and result["reason"]
        client.set_registered_model_alias("bank-live", "champion", elsewhere)
        result = _post(f"{served.url}/model/reload")
        assert result["outcome"] == "rejected" and "inputs differ" in result["reason"]
        assert _get(f"{served.url}/model/info")["version"] == second
        checks = _reloads(served.url)
        with _Load(served.port) as load:  # the periodic check fails too; the old one serves
            deadline = time.monotonic() + 2 * INTERVAL_S + 15
            while _reloads(served.url) == checks:
                assert time.monotonic() < deadline, served.logs()[-2000:]
                time.sleep(0.1)
            load.wait_for(ANSWERS)
        assert load.statuses and set(load.statuses) == {"200"}
        assert _metric(served.url, 'ml_model_reload_total{outcome="rejected"}') >= 1


def test_only_this_machine_may_reload(small_model_dir):
    from starlette.testclient import TestClient

    from mlcheck.models.load import load_model
    from mlcheck.serving.app import create_app

    config = ServingConfig(str(small_model_dir))
    with TestClient(create_app(load_model(config.model), config)) as client:
        response = client.post("/model/reload")  # the test client is not 127.0.0.1
    assert response.status_code == 403
    assert "only a client on this machine" in response.json()["detail"][0]["error"]
