"""The integrity of captured traffic and its labels: every captured row is counted once
(client retries reuse their X-Request-ID), labels are checked against the captured
predictions, label files accumulate (the latest label of a row wins), rows become readable
within about 2 s of the last request, and a capture folder deleted while serving comes back.
"""

from __future__ import annotations

import http.client
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from mlcheck.cli import main
from mlcheck.commands.monitor_windows import Monitor
from mlcheck.data.capture import (
    CAPTURE_ID,
    LABELS_FILE,
    capture_files,
    join_labels,
    read_capture,
)
from mlcheck.data.io import read_table, write_table
from mlcheck.errors import DataError
from mlcheck.policy import load_policy
from mlcheck.serving.capture import Capture, CaptureBatch
from mlcheck.stack.exporter import GateMetrics


def _batch(rid: str, rows: int = 1, predictions: list | None = None) -> CaptureBatch:
    columns = {"a": [float(i) for i in range(rows)], "b": ["x"] * rows}
    predicted = predictions if predictions is not None else ["1"] * rows
    return CaptureBatch(rid, "7", time.time(), columns, predicted)


def _capture(folder: Path, *batches: CaptureBatch) -> Path:
    capture = Capture(folder).start()
    for batch in batches:
        capture.put(batch)
    capture.close()
    return folder


def _label(folder: Path, labels: pd.DataFrame, capsys, *extra: str) -> tuple[int, str, str]:
    path = folder.parent / f"labels-{time.monotonic_ns()}.csv"
    write_table(labels, path)
    code = main(["label", "--capture", str(folder), "--labels", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


# 1. A reused X-Request-ID: each captured row is counted once.


def test_retried_request_ids_are_counted_once_per_captured_row(tmp_path, capsys):
    folder = _capture(tmp_path / "traffic", _batch("dup-1"), _batch("dup-1"), _batch("other"))
    labels = pd.DataFrame({"request_id": ["dup-1", "other"], "y": [1, 0]})
    code, out, _ = _label(folder, labels, capsys)
    assert code == 0 and "3 of 3 captured rows labelled" in out
    assert "2 captured rows share their request id and row with another" in out
    frame = read_table(folder, "--current")  # what `mlcheck gate --current DIR` reads
    assert len(frame) == 3  # rows in = rows out (it read 5 before: dup-1 four times)
    assert sorted(frame["request_id"]) == ["dup-1", "dup-1", "other"]
    assert frame[CAPTURE_ID].is_unique
    assert frame.groupby("request_id")["y"].apply(list).to_dict() == {"dup-1": [1, 1], "other": [0]}


def test_rows_in_equal_rows_out_under_retries_in_label_gate_and_monitor(tmp_path, capsys):
    batches = [_batch(f"r{i % 7}", rows=1 + i % 3) for i in range(40)]  # ids reused, 1-3 rows
    folder = _capture(tmp_path / "traffic", *batches)
    captured = sum(len(b.predictions) for b in batches)
    keys = {(b.request_id, r) for b in batches for r in range(len(b.predictions))}
    labels = pd.DataFrame(sorted(keys), columns=["request_id", "row"]).assign(y=1)
    code, out, _ = _label(folder, labels, capsys)
    assert code == 0 and f"{captured} of {captured} captured rows labelled" in out
    assert len(read_table(folder, "--current")) == captured
    policy_file = tmp_path / "gates.toml"
    policy_file.write_text("[quality.min]\naccuracy = 0.5\n")
    reference = pd.DataFrame({"a": [0.0, 1.0, 2.0] * 100, "b": ["x"] * 300})
    monitor = Monitor(folder, reference, load_policy(policy_file), GateMetrics(model="m"), 1)
    window = monitor.window()
    assert window is not None and window.rows == captured


def test_files_and_labels_written_before_capture_ids_are_read_once_per_row(tmp_path):
    folder = tmp_path / "traffic"
    folder.mkdir()
    old = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "request_id": ["dup-1", "dup-1", "other"], "row": 0,
         "model_version": "7", "captured_at": pd.Timestamp("2026-01-01", tz="UTC"),
         "prediction": ["1", "0", "1"]}
    )  # fmt: skip
    old.to_parquet(folder / "capture-20260101T000000-1-000001.parquet", index=False)
    # the many-to-many join of older versions wrote dup-1's label twice
    pd.DataFrame({"request_id": ["dup-1", "dup-1", "other"], "row": 0, "y": [1, 1, 0]}).to_parquet(
        folder / LABELS_FILE, index=False
    )
    frame = read_capture(folder)
    assert len(frame) == 3 and frame[CAPTURE_ID].is_unique
    # a new label file upgrades labels.parquet to one label per captured row
    assert join_labels(folder, pd.DataFrame({"id": ["other"], "y": [1]}), "id", "y") == (3, 3)
    frame = read_capture(folder)
    assert len(frame) == 3 and sorted(frame["y"]) == [1, 1, 1]


# 2. Labels are checked against the captured predictions.


@pytest.mark.parametrize("bad", ["yes", "maybe", "3.5", "", "2"])
def test_labels_that_are_not_a_binary_models_classes_are_refused(tmp_path, capsys, bad):
    folder = _capture(tmp_path / "traffic", _batch("a", predictions=["0"]), _batch("b"))
    labels = pd.DataFrame({"request_id": ["a", "b"], "y": ["1", bad]})
    code, _, err = _label(folder, labels, capsys)
    assert code == 2 and "'y'" in err and "0 or 1" in err
    assert (bad in err) if bad else ("missing" in err)
    assert "Traceback" not in err and not (folder / LABELS_FILE).exists()


def test_bad_labels_are_named_up_to_five(tmp_path):
    folder = _capture(tmp_path / "traffic", *[_batch(f"r{i}") for i in range(9)])
    labels = pd.DataFrame(
        {"id": [f"r{i}" for i in range(9)], "label": ["yes", "no", "a", "b", "c", "d", "e", 1, 0]}
    )
    with pytest.raises(DataError) as caught:
        join_labels(folder, labels, "id", "label")
    message = str(caught.value)
    assert "7 labels in the column 'label'" in message and "'yes', 'no', 'a', 'b', 'c'" in message
    assert "'d'" not in message


def test_a_regressors_labels_must_be_numbers(tmp_path):
    folder = _capture(
        tmp_path / "traffic", _batch("a", predictions=[3.5]), _batch("b", predictions=[410.0])
    )
    with pytest.raises(DataError, match=r"'y'.*number.*regressor.*'high'"):
        join_labels(folder, pd.DataFrame({"id": ["a", "b"], "y": ["1.5", "high"]}), "id", "y")
    numbers = pd.DataFrame({"id": ["a", "b"], "y": ["1.5", 7]})
    assert join_labels(folder, numbers, "id", "y") == (2, 2)
    assert read_capture(folder)["y"].tolist() == [1.5, 7.0]


def test_named_classes_take_new_classes_with_a_note(tmp_path, capsys):
    folder = _capture(tmp_path / "traffic", _batch("a", predictions=["red"]), _batch("b"))
    labels = pd.DataFrame({"request_id": ["a", "b"], "y": ["red", "blue"]})
    code, out, _ = _label(folder, labels, capsys)
    assert code == 0 and "2 of 2" in out
    assert "no captured prediction holds" in out and "'blue'" in out
    code, _, err = _label(folder, pd.DataFrame({"request_id": ["a"], "y": [None]}), capsys)
    assert code == 2 and "missing" in err


@pytest.mark.parametrize("row", ["first", "1.5", ""])
def test_a_row_column_that_is_not_whole_numbers_is_a_clear_error(tmp_path, capsys, row):
    folder = _capture(tmp_path / "traffic", _batch("a", rows=2, predictions=["1", "0"]))
    labels = pd.DataFrame({"request_id": ["a", "a"], "row": ["0", row], "y": [1, 0]})
    code, _, err = _label(folder, labels, capsys)
    assert code == 2 and "'row'" in err and "Traceback" not in err
    assert "whole number" in err


# 3. Label files accumulate; the latest label of a row wins.


def test_label_files_accumulate_and_the_latest_label_of_a_row_wins(tmp_path, capsys):
    folder = _capture(tmp_path / "traffic", *[_batch(f"r{i}") for i in range(4)])
    code, out, _ = _label(folder, pd.DataFrame({"request_id": ["r0", "r1"], "y": [1, 1]}), capsys)
    assert code == 0 and "2 of 4 captured rows labelled" in out
    second = pd.DataFrame({"request_id": ["r1", "r2"], "y": [0, 1]})
    code, out, _ = _label(folder, second, capsys)
    assert code == 0 and "3 of 4 captured rows labelled" in out
    assert "1 row already labelled took this file's label (the latest label wins; 1 changed)" in out
    frame = read_capture(folder)
    assert dict(zip(frame["request_id"], frame["y"], strict=True)) == {"r0": 1, "r1": 0, "r2": 1}


def test_labels_that_match_no_captured_row_are_counted(tmp_path, capsys):
    folder = _capture(tmp_path / "traffic", _batch("r0"))
    code, out, _ = _label(folder, pd.DataFrame({"request_id": ["r0", "late"], "y": [1, 0]}), capsys)
    assert code == 0 and "1 of 1" in out and "1 label matches no captured row" in out
    assert "'late'" in out


def test_a_second_label_file_must_name_the_same_label_column(tmp_path, capsys):
    folder = _capture(tmp_path / "traffic", _batch("r0"), _batch("r1"))
    assert _label(folder, pd.DataFrame({"request_id": ["r0"], "y": [1]}), capsys)[0] == 0
    other = pd.DataFrame({"request_id": ["r1"], "label": [1]})
    code, _, err = _label(folder, other, capsys, "--target", "label")
    assert code == 2 and "'y'" in err and "--target y" in err


# 6. Rows are readable soon after the last request; a deleted folder is recreated.


def test_rows_are_readable_within_two_seconds_of_the_last_request(tmp_path):
    capture = Capture(tmp_path / "traffic").start()  # the defaults of `mlcheck serve`
    try:
        for i in range(20):
            capture.put(_batch(f"r{i}"))
        last = time.monotonic()
        while not capture_files(tmp_path / "traffic") and time.monotonic() - last < 10:
            time.sleep(0.02)
        waited = time.monotonic() - last
        assert capture_files(tmp_path / "traffic") and waited < 2.0, waited
        assert len(read_capture(tmp_path / "traffic")) == 20
    finally:
        capture.close()


def test_a_capture_folder_deleted_while_serving_is_recreated(tmp_path):
    folder = tmp_path / "traffic"
    written: list[int] = []
    dropped: list[int] = []
    capture = Capture(folder, written.append, dropped.append, idle_s=0.05).start()
    try:
        capture.put(_batch("before"))
        deadline = time.monotonic() + 5
        while not capture_files(folder) and time.monotonic() < deadline:
            time.sleep(0.02)
        shutil.rmtree(folder)
        capture.put(_batch("after"))
    finally:
        capture.close()
    assert dropped == [] and written == [1, 1]
    assert read_capture(folder)["request_id"].tolist() == ["after"]


def test_an_empty_capture_folder_says_when_rows_appear(tmp_path):
    (tmp_path / "traffic").mkdir()
    with pytest.raises(DataError, match=r"without capture files.*within about 2 s"):
        read_table(tmp_path / "traffic", "--current")


@pytest.mark.slow
def test_a_real_server_retried_request_is_labelled_right_after_traffic(tmp_path, capsys):
    """`mlcheck serve --capture`, a client retrying with its X-Request-ID, then `mlcheck
    label` while the server still runs: the rows are there and each counted once."""
    from mlcheck.models.demo import demo_data_path, demo_model_path
    from mlcheck.serving.config import ServingConfig
    from mlcheck.serving.process import ServedModel

    folder = tmp_path / "traffic"
    records = read_table(demo_data_path("current")).head(3).drop(columns=["y"])
    sent = [("dup-1", 0), ("dup-1", 0), ("other", 1), ("third", 2)]
    with ServedModel(ServingConfig(str(demo_model_path()), capture_dir=str(folder))) as served:
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        for rid, index in sent:
            body = json.dumps(records.iloc[index].to_dict()).encode()
            headers = {"Content-Type": "application/json", "X-Request-ID": rid}
            connection.request("POST", "/predict", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        connection.close()
        last = time.monotonic()
        while not capture_files(folder) and time.monotonic() - last < 10:
            time.sleep(0.02)
        waited = time.monotonic() - last
        assert waited < 2.0, waited  # readable while the server runs, not after 60 s
        labels = pd.DataFrame({"request_id": ["dup-1", "other", "third"], "y": [1, 0, 1]})
        code, out, err = _label(folder, labels, capsys)
    assert code == 0, err
    assert "4 of 4 captured rows labelled" in out
    assert len(read_table(folder, "--current")) == 4
