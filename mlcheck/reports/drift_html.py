"""The Evidently data-drift HTML report (`reports/drift.html`), on a sample of the rows.

Evidently draws the report a person reads; mlcheck's own drift gates decide. Rows beyond
`max_rows` are sampled (seeded) because Evidently's report grows slow and large with size.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from mlcheck.extras import available, missing
from mlcheck.features import ColumnKind

__all__ = ["preload", "write_drift_report"]


def preload() -> None:
    """Import Evidently (~4 s) ahead of the report, on a thread while the gates compute.

    Nothing here may reach a gate: an import that fails on the thread (a library iterating
    `sys.modules` while the gates import theirs: "dictionary changed size during iteration")
    is dropped, and the report imports Evidently again on the main thread when it is due,
    saying why if it cannot. No `warnings.catch_warnings` either: it swaps the process's
    warning filters, which pytest sets per test on the main thread."""
    if not available("evidently"):  # the report says so when it is due
        return
    with contextlib.suppress(Exception):  # retried on the main thread by the report
        import evidently.presets  # noqa: F401


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame


def write_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, ColumnKind],
    path: str | Path,
    max_rows: int = 20_000,
    seed: int = 0,
) -> Path:
    """Write Evidently's DataDriftPreset report for the columns in `kinds`; returns the path.
    Raises `MissingExtra` naming `mlcheck[evidently]` when Evidently is not installed."""
    absent = missing("evidently", "drift.html (Evidently's drift report)")
    if absent is not None:  # checked without importing it: its import warns (filtered below)
        raise absent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        columns = [c for c in kinds if c in reference.columns and c in current.columns]
        definition = DataDefinition(
            numerical_columns=[c for c in columns if kinds[c] == "numeric"],
            categorical_columns=[c for c in columns if kinds[c] == "categorical"],
        )
        datasets = [
            Dataset.from_pandas(_sample(frame[columns], max_rows, seed), data_definition=definition)
            for frame in (reference, current)
        ]
        snapshot = Report([DataDriftPreset()]).run(
            current_data=datasets[1], reference_data=datasets[0]
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(path))
    return path
