"""Captured traffic: `mlcheck serve --capture DIR` writes every predicted row off the request
path, `mlcheck gate --current DIR` gates it (the quality gates SKIP until labels arrive), and
`mlcheck label` joins the labels so the quality gates decide on production traffic."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time

import pandas as pd
import pytest

from mlcheck.data.capture import CAPTURE_COLUMNS, LABELS_FILE, capture_files, join_labels
from mlcheck.data.io import read_table, write_table
from mlcheck.errors import DataError
from mlcheck.models.demo import demo_data_path, demo_model_path
from mlcheck.serving.capture import Capture, CaptureBatch
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.process import ServedModel
from tests.conftest import ROOT
from tests.gate_runner import run_gate


def _batch(rid: str, rows: int) -> CaptureBatch:
    columns = {"a": list(range(rows)), "b": ["x"] * rows}
    return CaptureBatch(rid, "7", time.time(), columns, [1] * rows)


def test_the_writer_rotates_files_and_reads_back_every_row(tmp_path):
    written: list[int] = []
    capture = Capture(tmp_path, on_written=written.append, max_rows=5).start()
    for i in range(4):
        capture.put(_batch(f"r{i}", 3))
    capture.close()
    files = capture_files(tmp_path)
    assert len(files) == 2 and sum(written) == 12  # 6 rows (>= 5) then the last 6 on close
    frame = read_table(tmp_path, "--current")
    assert len(frame) == 12 and set(CAPTURE_COLUMNS) <= set(frame.columns)
    assert frame.groupby("request_id")["row"].apply(list).to_dict()["r2"] == [0, 1, 2]
    assert (frame["model_version"] == "7").all() and not list(tmp_path.glob(".*.tmp"))


def test_rows_the_writer_cannot_take_are_dropped_and_counted(tmp_path):
    dropped: list[int] = []
    capture = Capture(tmp_path, on_dropped=dropped.append, queue_batches=1)  # not started
    capture.put(_batch("a", 2))
    capture.put(_batch("b", 3))
    assert dropped == [3]


def test_an_empty_folder_is_an_error_naming_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"without capture files.*--capture"):
        read_table(tmp_path, "--current")


def test_labels_join_by_request_id_and_row(tmp_path):
    capture = Capture(tmp_path).start()
    capture.put(_batch("one", 1))
    capture.put(_batch("many", 3))
    capture.close()
    with pytest.raises(DataError, match="'many' predicted 3 rows"):
        join_labels(tmp_path, pd.DataFrame({"id": ["many"], "y": [1]}), "id", "y")
    labels = pd.DataFrame({"id": ["one", "many", "many"], "row": [0, 2, 0], "y": [1, 0, 1]})
    assert join_labels(tmp_path, labels, "id", "y") == (3, 4)
    frame = read_table(tmp_path, "--current")  # only the labelled rows
    assert sorted(zip(frame["request_id"], frame["row"], frame["y"], strict=True)) == [
        ("many", 0, 1),
        ("many", 2, 0),
        ("one", 0, 1),
    ]
    assert (tmp_path / LABELS_FILE).is_file()


def _serve_rows(url_port: int, frame: pd.DataFrame) -> None:
    """One request per row, its X-Request-ID the row's index."""
    connection = http.client.HTTPConnection("127.0.0.1", url_port, timeout=10)
    for index, record in zip(frame.index, frame.to_dict(orient="records"), strict=True):
        body = json.dumps({k: v for k, v in record.items() if k != "y"}).encode()
        headers = {"Content-Type": "application/json", "X-Request-ID": f"row-{index}"}
        connection.request("POST", "/predict", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    connection.close()


def _gate(current, report_dir):
    run = run_gate([
        "--stack", "off", "--model", "demo",
        "--reference", demo_data_path("reference"), "--current", current,
        "--report-dir", report_dir,
        "suites/model_quality/test_quality.py", "suites/drift", "suites/schema",
    ])  # fmt: skip
    gates = {g["name"]: g for g in json.loads((report_dir / "gate.json").read_text())["gates"]}
    return run, gates


@pytest.mark.slow
def test_captured_traffic_is_gated_then_labelled_and_gated_on_quality(tmp_path):
    folder = tmp_path / "capture"
    current = read_table(demo_data_path("current")).head(2000)
    with ServedModel(ServingConfig(str(demo_model_path()), capture_dir=str(folder))) as served:
        _serve_rows(served.port, current)
    assert sum(len(pd.read_parquet(f)) for f in capture_files(folder)) == 2000

    run, gates = _gate(folder, tmp_path / "unlabelled")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert gates["quality.roc_auc"]["outcome"] == "SKIP"
    assert "captured traffic without labels" in gates["quality.roc_auc"]["reason"]
    assert (
        gates["drift.dataset"]["outcome"] == "PASS" and gates["schema.inputs"]["outcome"] == "PASS"
    )

    labels = pd.DataFrame({"request_id": [f"row-{i}" for i in current.index], "y": current["y"]})
    write_table(labels, tmp_path / "labels.csv")
    joined = subprocess.run(
        [sys.executable, "-m", "mlcheck", "label", "--capture", str(folder),
         "--labels", str(tmp_path / "labels.csv")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert joined.returncode == 0 and "2,000 of 2,000 captured rows labelled" in joined.stdout
    run, gates = _gate(folder, tmp_path / "labelled")
    assert gates["quality.roc_auc"]["outcome"] == "PASS", run.stdout[-3000:]
    assert gates["quality.roc_auc"]["details"]["rows"] == 2000


def test_a_file_that_cannot_be_written_drops_its_rows_and_the_capture_goes_on(tmp_path):
    dropped: list[int] = []
    capture = Capture(tmp_path, on_dropped=dropped.append, max_rows=2).start()
    capture.put(CaptureBatch("bad", "1", time.time(), {"a": [object(), object()]}, [1, 1]))
    capture.put(_batch("good", 2))
    capture.close()
    assert dropped == [2]  # pyarrow cannot write Python objects: those rows are dropped
    assert read_table(tmp_path, "--current")["request_id"].tolist() == ["good", "good"]
