"""The registry flow against a real MLflow server: register, gate, promote only on PASS."""

import os
import subprocess
import sys

import pytest

from mlcheck.models.demo import demo_data_path, demo_model_path
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tracking_uri(mlflow_service):
    """The session's MLflow server (tests/conftest.py; these tests register `bank`)."""
    return mlflow_service.url


def _mlcheck(tracking_uri, *args, timeout=600):
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri)
    command = [sys.executable, "-m", "mlcheck", *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _client(tracking_uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _promote_from(tracking_uri, gate_json, *extra):
    """`mlcheck promote` of bank on an existing gate.json (no new gate run)."""
    return _mlcheck(
        tracking_uri, "promote", "--name", "bank", "--gate-json", str(gate_json), *extra
    )


def _promote(tracking_uri, tmp_path, *extra):
    """Gate bank@challenger on the model-quality suites alone (a partial run, so promoted
    only with --allow-partial), then promote."""
    return _mlcheck(
        tracking_uri,
        "promote",
        "--name",
        "bank",
        "--allow-partial",
        "suites/model_quality",
        "--reference",
        str(demo_data_path("reference")),
        "--current",
        str(demo_data_path("current")),
        "--report-dir",
        str(tmp_path),
        *extra,
    )


def test_register_promote_refuse_and_idempotence(tracking_uri, tmp_path, small_model_dir):
    from mlcheck.models.registry import register_model

    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    try:
        good = register_model(demo_model_path(), "bank", "challenger")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    first = _promote(tracking_uri, tmp_path / "first")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert f"bank version {good} is now @champion" in first.stdout
    client = _client(tracking_uri)
    assert client.get_model_version_by_alias("bank", "champion").version == good
    tags = client.get_model_version("bank", good).tags
    assert tags["mlcheck.gate.outcome"] == "PASS" and tags["mlcheck.gate.run_id"]
    assert "left out" in tags["mlcheck.gate.partial"]  # what the promotion did not gate

    # the same partial run without --allow-partial: a full run is what promotes
    partial = _promote_from(tracking_uri, tmp_path / "first" / "gate.json")
    assert partial.returncode == 2 and "is not a full one" in partial.stderr
    assert "--allow-partial" in partial.stderr
    again = _promote_from(tracking_uri, tmp_path / "first" / "gate.json", "--allow-partial")
    assert again.returncode == 0 and "already @champion; nothing to change" in again.stdout

    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    try:
        worse = register_model(small_model_dir, "bank", "challenger")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    # the first gate judged the version @challenger named then, not the one it names now
    stale = _promote_from(tracking_uri, tmp_path / "first" / "gate.json", "--allow-partial")
    assert stale.returncode == 2 and "run the gate on that model first" in stale.stderr
    refused = _promote(tracking_uri, tmp_path / "second")
    assert refused.returncode == 1, refused.stdout[-3000:]
    assert "compare.roc_auc: roc_auc difference=-0.0" in refused.stdout
    assert f"bank version {worse} stays where it is: the gate said FAIL" in refused.stdout
    assert client.get_model_version_by_alias("bank", "champion").version == good
    assert client.get_model_version("bank", worse).tags["mlcheck.gate.outcome"] == "FAIL"


def test_missing_name_or_alias_cannot_decide(tracking_uri, tmp_path):
    no_name = _mlcheck(
        tracking_uri, "promote", "--name", "no-such-model", "--report-dir", str(tmp_path)
    )
    assert no_name.returncode == 2 and "no-such-model" in no_name.stderr
    no_alias = _mlcheck(
        tracking_uri,
        "promote",
        "--name",
        "bank",
        "--from",
        "nightly",
        "--report-dir",
        str(tmp_path),
    )
    assert no_alias.returncode == 2
    assert "alias 'nightly' of model 'bank' does not exist" in no_alias.stderr
