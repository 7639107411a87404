"""Captured traffic on disk: the Parquet files `mlcheck serve --capture DIR` writes, and the
labels `mlcheck label` joins to them later.

A capture folder holds `capture-*.parquet` (the features of every predicted row plus
`CAPTURE_COLUMNS`) and, once labels arrived, `labels.parquet`: one label per captured row,
keyed by the row's `capture_id` (with its request id and row), accumulated over every label
file joined so far. Read back, the folder is the labelled rows when labels exist, else every
captured row.

Every captured row is counted once. Its `capture_id` is unique: the writer numbers its rows
(`<writer>-<n>`); a file written before capture ids existed gets `<file name>#<position>`.
Clients that retry keep their X-Request-ID, so a request id (and row) can name several
captured rows: a label given for it labels each of them (a retry is the same request).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from numbers import Number
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlcheck.errors import DataError

__all__ = [
    "CAPTURE_COLUMNS",
    "CAPTURE_ID",
    "CAPTURE_PREFIX",
    "LABELS_FILE",
    "LabelJoin",
    "capture_files",
    "join_labels",
    "label_capture",
    "parquet_options",
    "read_capture",
]

#: The captured row's unique key (see the module's docstring).
CAPTURE_ID = "capture_id"
#: The columns a capture adds to the features.
CAPTURE_COLUMNS = ("request_id", "row", "model_version", "captured_at", "prediction", CAPTURE_ID)
CAPTURE_PREFIX = "capture-"
LABELS_FILE = "labels.parquet"
#: How long after its last request a server's rows are readable (`Capture`'s idle flush).
READABLE_AFTER = "about 2 s"
_KEYS = ["request_id", "row"]
_EXAMPLES = 5


def parquet_options(columns: Iterable[Any]) -> dict[str, Any]:
    """`DataFrame.to_parquet` options for a frame with these columns: `capture_id` stored by
    its shared prefixes (about 0.2 bytes a row instead of 7: consecutive ids of one writer
    differ only at the end), every other column as pyarrow stores it by default."""
    names = [str(c) for c in columns]
    if CAPTURE_ID not in names:
        return {}
    return {
        "use_dictionary": [c for c in names if c != CAPTURE_ID],
        "column_encoding": {CAPTURE_ID: "DELTA_BYTE_ARRAY"},
    }


def capture_files(folder: Path) -> list[Path]:
    """The finished capture files in `folder`, oldest first."""
    return sorted(p for p in folder.glob(f"{CAPTURE_PREFIX}*.parquet") if p.is_file())


def _read_file(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One capture file (only `columns` of it, those it has, if given), with its rows'
    `capture_id`: the written one, else `<file name>#<position>` (files written before)."""
    if columns is not None:
        names = set(pq.read_schema(path).names)
        frame = pd.read_parquet(path, columns=[c for c in columns if c in names])
    else:
        frame = pd.read_parquet(path)
    if CAPTURE_ID not in frame.columns:
        frame[CAPTURE_ID] = [f"{path.name}#{i}" for i in range(len(frame))]
    return frame


def _read_files(files: Iterable[Path], columns: list[str] | None = None) -> pd.DataFrame:
    return pd.concat([_read_file(f, columns) for f in files], ignore_index=True)


def _files(folder: Path, argument: str) -> list[Path]:
    files = capture_files(folder)
    if not files:
        raise DataError(
            f"{argument}={str(folder)!r} is a folder without capture files "
            f"({CAPTURE_PREFIX}*.parquet); serve the model with `mlcheck serve --capture "
            f"{folder}`, or pass a CSV or Parquet file (a server capturing into it writes its "
            f"rows within {READABLE_AFTER} of its last request)"
        )
    return files


def _stored_labels(folder: Path) -> tuple[pd.DataFrame, str] | None:
    """`labels.parquet` and the name of its label column, if the folder has labels."""
    path = folder / LABELS_FILE
    if not path.is_file():
        return None
    labels = pd.read_parquet(path)
    targets = [c for c in labels.columns if c not in (CAPTURE_ID, *_KEYS)]
    if len(targets) != 1:
        raise DataError(
            f"{path} should hold {', '.join(_KEYS)} and one label column, not "
            f"{', '.join(map(str, labels.columns))}; delete it and run `mlcheck label` again"
        )
    return labels, targets[0]


def _attach(
    captured: pd.DataFrame,
    labels: pd.DataFrame,
    target: str,
    how: Literal["inner", "left"] = "inner",
) -> pd.DataFrame:
    """The labelled rows of `captured` (`how="left"`: every row, the label where there is
    one), each once with its label. Labels written before capture ids existed are keyed by
    request id and row (the latest label of a key wins)."""
    if CAPTURE_ID in labels.columns:
        by_row = labels[[CAPTURE_ID, target]].drop_duplicates(CAPTURE_ID, keep="last")
        return captured.merge(by_row, on=CAPTURE_ID, how=how, validate="many_to_one")
    by_key = labels[[*_KEYS, target]].drop_duplicates(_KEYS, keep="last")
    return captured.merge(by_key, on=_KEYS, how=how, validate="many_to_one")


def read_capture(
    folder: Path,
    argument: str = "--current",
    files: list[Path] | None = None,
    labelled_only: bool = True,
) -> pd.DataFrame:
    """The captured rows of `folder` (of `files` in it, if given), each captured row once:
    only the labelled ones when `labels.parquet` exists, unless `labelled_only` is False
    (every row, with its label where it has one: what drift is judged on)."""
    frame = _read_files(_files(folder, argument) if files is None else files)
    stored = _stored_labels(folder)
    if stored is not None:
        frame = _attach(frame, *stored, how="inner" if labelled_only else "left")
    return frame


# Checking labels against what the captured predictions say the model is.


def _whole(value: Any) -> int | None:
    """`value` as a whole number (1, 1.0, "1", " 1.0 "), else None."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, Number) and not isinstance(value, complex):
        number = float(value)  # type: ignore[arg-type]
        if math.isfinite(number) and number == int(number):
            return int(number)
    return None


def _missing(values: pd.Series) -> pd.Series:
    return values.isna() | values.map(lambda v: isinstance(v, str) and not v.strip())


def _examples(values: pd.Series, bad: pd.Series) -> str:
    shown = [
        "a missing value" if pd.isna(v) or (isinstance(v, str) and not v.strip()) else repr(v)
        for v in values[bad]
    ]
    unique = list(dict.fromkeys(shown))
    more = ", …" if len(unique) > _EXAMPLES else ""
    return ", ".join(unique[:_EXAMPLES]) + more


def _label_rule(predictions: pd.Series) -> tuple[str, list[str]]:
    """What the captured predictions say the model is: "regression" (values), "binary" (the
    classes 0 and 1), "integer" (classes that are whole numbers) or "named" (other class
    names), with the classes they hold."""
    if pd.api.types.is_float_dtype(predictions):
        return "regression", []
    classes = sorted({str(c) for c in predictions.dropna()})
    if all(_whole(c) is not None for c in classes):
        return ("binary" if set(classes) <= {"0", "1"} else "integer"), classes
    return "named", classes


_RULES = {
    "regression": "numbers (the captured predictions are a regressor's values)",
    "binary": "0 or 1 (the captured predictions are the classes 0 and 1 of a binary classifier)",
    "integer": "whole numbers (the captured predictions are whole-number classes)",
    "named": "class names (a label may not be missing)",
}


def _checked_labels(
    values: pd.Series, predictions: pd.Series, column: str, source: str = ""
) -> tuple[pd.Series, list[Any]]:
    """`values` as the captured model's labels (float64 for a regressor, int64 for
    whole-number classes, text for named classes) and the classes no captured prediction
    holds; a label that cannot be one (missing, not a number, not 0/1 for a 0/1 model) is a
    DataError naming `column` and up to five of them."""
    rule, classes = _label_rule(predictions)
    bad = _missing(values)
    converted: pd.Series
    if rule == "regression":
        converted = pd.to_numeric(values, errors="coerce").astype("float64")
        bad |= ~np.isfinite(converted.to_numpy())
    elif rule in ("binary", "integer"):
        converted = values.map(_whole)
        bad |= converted.isna()
        if rule == "binary":
            bad |= ~converted.isin([0, 1])
    else:
        converted = values.map(str)
    if bad.any():
        count = int(bad.sum())
        labels, are = ("label", "is not") if count == 1 else ("labels", "are not")
        raise DataError(
            f"{count:,} {labels} in the column {column!r}{source} {are} {_RULES[rule]}: "
            f"{_examples(values, bad)}; fix or drop those rows (nothing was written)"
        )
    if rule in ("binary", "integer"):
        converted = converted.astype("int64")
        new = sorted(set(converted) - {int(c) for c in classes})
    elif rule == "named":
        new = sorted(set(converted) - set(classes))
    else:
        new = []
    return converted, new


def _whole_rows(rows: pd.Series) -> pd.Series:
    whole = rows.map(_whole)
    bad = whole.isna() | (pd.to_numeric(whole, errors="coerce").fillna(0) < 0)
    if bad.any():
        raise DataError(
            f"the labels' 'row' column must hold whole numbers from 0 (a row's place in its "
            f"request); found {_examples(rows, bad)}. Drop the column when every request held "
            "one row"
        )
    return whole.astype("int64")


# Joining a label file.


@dataclass(frozen=True)
class LabelJoin:
    """What `label_capture` did."""

    labelled: int  # captured rows with a label now (this and every earlier label file)
    captured: int  # captured rows in the folder
    matched: int  # captured rows this file labelled
    retried: int  # of those, rows sharing their request id and row with another captured row
    replaced: int  # rows already labelled that took this file's label
    changed: int  # of those, rows whose label changed
    unmatched: int  # labels of this file that match no captured row
    unmatched_ids: list[str] = field(default_factory=list)
    new_classes: list[Any] = field(default_factory=list)

    def notes(self) -> list[str]:
        """A sentence for each thing worth knowing beyond the counts."""
        notes = []
        if self.retried:
            notes.append(
                f"{self.retried:,} captured rows share their request id and row with another "
                "(a client's retries): each took that request's label"
            )
        if self.replaced:
            rows = "row" if self.replaced == 1 else "rows"
            notes.append(
                f"{self.replaced:,} {rows} already labelled took this file's label (the latest "
                f"label wins; {self.changed:,} changed)"
            )
        if self.unmatched:
            labels, match = ("label", "matches") if self.unmatched == 1 else ("labels", "match")
            ids = ", ".join(repr(i) for i in self.unmatched_ids[:_EXAMPLES])
            notes.append(
                f"{self.unmatched:,} {labels} {match} no captured row (request ids such as "
                f"{ids}): not written; a server writes its rows within {READABLE_AFTER} of its "
                "last request, then run `mlcheck label` with them again"
            )
        if self.new_classes:
            shown = ", ".join(repr(c) for c in self.new_classes[:_EXAMPLES])
            notes.append(
                f"labels of classes no captured prediction holds: {shown} (right if the model "
                "never predicted them; otherwise check the labels)"
            )
        return notes


def _labels_given(labels: pd.DataFrame, id_column: str, target: str) -> pd.DataFrame:
    for column in (id_column, target):
        if column not in labels.columns:
            raise DataError(
                f"the labels have no column {column!r} (columns: {', '.join(map(str, labels))});"
                " pass --id-column and --target naming the request id and the label"
            )
    columns = [id_column, target] + (["row"] if "row" in labels.columns else [])
    given = labels[list(dict.fromkeys(columns))].rename(columns={id_column: "request_id"})
    missing = _missing(given["request_id"])
    if missing.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(missing)[:_EXAMPLES])
        raise DataError(
            f"{int(missing.sum()):,} labels have no request id in {id_column!r} (rows {rows} of "
            "the labels, counting from 1); fix or drop those rows (nothing was written)"
        )
    given["request_id"] = given["request_id"].astype(str)
    return given


def _check_target_free(files: list[Path], target: str) -> None:
    """The label's column may not share a name with a column of the captured rows."""
    names = {name for f in files for name in pq.read_schema(f).names}
    if target in names or target == CAPTURE_ID:
        raise DataError(
            f"--target={target!r} is also a column of the captured rows; rename the labels' "
            "column (and pass --target with the new name)"
        )


def _check_one_row_per_request(captured: pd.DataFrame, request_ids: pd.Series) -> None:
    """Labels without a 'row' column may name only requests that predicted one row."""
    multi = captured.loc[captured["row"] > 0, "request_id"].unique()
    batched = pd.Index(multi).intersection(pd.Index(request_ids))
    if len(batched):
        rows = int(captured.loc[captured["request_id"] == batched[0], "row"].max()) + 1
        raise DataError(
            f"request {batched[0]!r} predicted {rows} rows, so a label per request id is "
            "ambiguous; add a 'row' column (the row's place in its request)"
        )


def _check_one_label_per_row(given: pd.DataFrame) -> None:
    twice = given.duplicated(_KEYS, keep=False)
    if twice.any():
        keys = given.loc[twice, _KEYS].drop_duplicates().head(_EXAMPLES)
        shown = ", ".join(f"({r!r}, {w})" for r, w in keys.itertuples(index=False))
        raise DataError(
            f"the labels name {int(twice.sum()):,} rows more than once, such as {shown} "
            "(request id, row); keep one label per row in a file (a later file replaces a "
            "row's label)"
        )


def _unmatched_ids(given: pd.DataFrame, captured: pd.DataFrame) -> pd.Series:
    """The request ids of the labels that name no captured row."""
    seen = given.merge(captured[_KEYS].drop_duplicates(), on=_KEYS, how="left", indicator=True)
    return seen.loc[seen["_merge"] == "left_only", "request_id"]


def _existing_labels(folder: Path, captured: pd.DataFrame, target: str) -> pd.DataFrame:
    """The labels `folder` holds already, one per captured row (none: an empty frame);
    labels written before capture ids are given theirs, and checked again."""
    stored = _stored_labels(folder)
    if stored is None:
        return pd.DataFrame(columns=[CAPTURE_ID, *_KEYS, target])
    old, old_target = stored
    if old_target != target:
        raise DataError(
            f"{folder / LABELS_FILE} holds the labels in the column {old_target!r}; pass "
            f"--target {old_target} (with the labels in that column), or delete it to start "
            "over"
        )
    if CAPTURE_ID not in old.columns:  # written before capture ids: one per captured row
        old = _attach(captured[[CAPTURE_ID, *_KEYS, "prediction"]], old, target)
        old[target], _ = _checked_labels(
            old[target], old["prediction"], target, f" of {LABELS_FILE}"
        )
    return old[[CAPTURE_ID, *_KEYS, target]].drop_duplicates(CAPTURE_ID, keep="last")


def label_capture(folder: Path, labels: pd.DataFrame, id_column: str, target: str) -> LabelJoin:
    """Join `labels` (a request id per row, `row` when a request held several rows, and the
    label) to the captured rows of `folder`, adding to `folder/labels.parquet`: each captured
    row whose request id (and row) a label names takes that label, every retry of a request
    included; a row labelled before takes the new label. Labels are checked against the
    captured predictions first (`_checked_labels`); nothing is written when one is wrong."""
    files = _files(folder, "--capture")
    captured = _read_files(files, [CAPTURE_ID, *_KEYS, "prediction"])
    given = _labels_given(labels, id_column, target)
    _check_target_free(files, target)
    if "row" in given.columns:
        given["row"] = _whole_rows(given["row"])
    else:
        _check_one_row_per_request(captured, given["request_id"])
        given["row"] = 0
    _check_one_label_per_row(given)
    given[target], new_classes = _checked_labels(given[target], captured["prediction"], target, "")

    matched = captured[[CAPTURE_ID, *_KEYS]].merge(
        given[[*_KEYS, target]], on=_KEYS, how="inner", validate="many_to_one"
    )
    unmatched = _unmatched_ids(given, captured)
    existing = _existing_labels(folder, captured, target)
    if matched.empty and existing.empty:
        ids = ", ".join(repr(i) for i in unmatched.head(_EXAMPLES))
        raise DataError(
            f"none of the {len(given):,} labels matches a captured row (request ids such as "
            f"{ids}); is --id-column the request id the requests were sent with? A server "
            f"writes its rows within {READABLE_AFTER} of its last request"
        )

    before = existing.set_index(CAPTURE_ID)[target]
    again = matched[matched[CAPTURE_ID].isin(before.index)]
    changed = int((before.loc[again[CAPTURE_ID]].to_numpy() != again[target].to_numpy()).sum())
    kept = existing[~existing[CAPTURE_ID].isin(matched[CAPTURE_ID])]
    combined = pd.concat([kept, matched], ignore_index=True) if len(kept) else matched
    _write_labels(folder, combined)
    return LabelJoin(
        labelled=int(combined[CAPTURE_ID].isin(captured[CAPTURE_ID]).sum()),
        captured=len(captured),
        matched=len(matched),
        retried=int(matched.duplicated(_KEYS, keep=False).sum()),
        replaced=len(again),
        changed=changed,
        unmatched=len(unmatched),
        unmatched_ids=unmatched.head(_EXAMPLES).tolist(),
        new_classes=new_classes,
    )


def _write_labels(folder: Path, labels: pd.DataFrame) -> None:
    """Write `labels.parquet` whole: to a temporary name, then renamed over the old one, so a
    gate or monitor reading the folder meanwhile sees the old labels or the new, never half."""
    temporary = folder / f".{LABELS_FILE}.{os.getpid()}.tmp"
    try:
        labels.to_parquet(temporary, index=False, **parquet_options(labels.columns))
    except (pa.ArrowException, ValueError, TypeError) as exc:
        temporary.unlink(missing_ok=True)
        raise DataError(f"the labels cannot be written to {folder / LABELS_FILE}: {exc}") from exc
    os.replace(temporary, folder / LABELS_FILE)


def join_labels(folder: Path, labels: pd.DataFrame, id_column: str, target: str) -> tuple[int, int]:
    """`label_capture`, as (captured rows labelled, captured rows)."""
    joined = label_capture(folder, labels, id_column, target)
    return joined.labelled, joined.captured
