"""Column drift: mlcheck's statistics against Evidently's DataDriftPreset and alibi-detect's
TabularDrift (KS + chi-square) on the same bank-marketing-like frames, 14 columns.

Timed frames: the reference is `generate(rows, seed=1)`, the current `generate(rows, seed=2)`
with `duration` 30% longer and a quarter of the jobs turned into "student" (some columns
drift, most not). For each size: the three tools' times and their ratios, whether every
column's method, statistic (to 1e-6) and verdict agree with Evidently, and mlcheck's peak
extra memory (tracemalloc, a second, separately timed run).

False alarms: `resamples` fresh current samples whose numeric columns are shifted by a tiny
0.02 standard deviations, at the largest size: how often each tool calls the data drifted.
A p-value test has the power at a million rows to flag a shift nobody would act on; a
distance with a threshold (mlcheck's and Evidently's defaults at this size) does not.
Evidently runs on the first `evidently_resamples` of them (40 s each at 1M rows); it uses
the same methods as mlcheck there, and the agreement is checked on each one it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.bench.report import Section, markdown_table
from mlcheck.data.bank import generate
from mlcheck.features import ColumnKind
from mlcheck.stats.catalogue import METHODS
from mlcheck.stats.drift import ColumnDrift, dataset_drift, frame_drift

__all__ = ["alibi_python", "drift_section"]

NUMERIC = ["age", "balance", "duration", "campaign", "pdays", "previous"]
CATEGORICAL = ["job", "marital", "education", "default", "housing", "loan", "contact", "poutcome"]
KINDS: dict[str, ColumnKind] = {
    **dict.fromkeys(NUMERIC, "numeric"),
    **dict.fromkeys(CATEGORICAL, "categorical"),
}
TOLERANCE = 1e-6
ALIBI_SCRIPT = Path(__file__).with_name("alibi_tabular.py")
ALIBI_P_VALUE = 0.05  # TabularDrift's default


def alibi_python() -> str | None:
    """The interpreter with alibi-detect: $MLCHECK_ALIBI_PYTHON, else `.venv-alibi` here."""
    given = os.environ.get("MLCHECK_ALIBI_PYTHON")
    if given:
        return given
    local = Path(".venv-alibi/bin/python")
    return str(local) if local.is_file() else None


def frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = generate(rows, seed=1)[list(KINDS)]
    current = generate(rows, seed=2)[list(KINDS)]
    current["duration"] = current["duration"] * 1.3
    job = current["job"].to_numpy(dtype=object)
    job[np.random.default_rng(3).random(rows) < 0.25] = "student"
    current["job"] = pd.Categorical(job, categories=current["job"].cat.categories)
    return reference, current


def tiny_shift(reference: pd.DataFrame, rows: int, seed: int, shift_sd: float) -> pd.DataFrame:
    """A fresh sample with every numeric column moved by `shift_sd` reference deviations."""
    current = generate(rows, seed=seed)[list(KINDS)]
    for column in NUMERIC:
        current[column] = current[column] + shift_sd * float(reference[column].std())
    return current


def run_evidently(
    reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[float, dict[str, tuple[str, float, bool]], bool]:
    """Seconds for Report.run, then per column (method, drift score, drifted), dataset verdict."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        snapshot = Report([DataDriftPreset()], include_tests=True).run(cur, ref)
        seconds = time.perf_counter() - started
    result = snapshot.dict()
    failed = {t["metric_config"]["metric_id"]: t["status"] == "FAIL" for t in result["tests"]}
    by_label = {spec.display_name: name for name, spec in METHODS.items()}
    columns, dataset = {}, False
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method = by_label.get(config["method"], config["method"])
            columns[config["column"]] = (method, float(metric["value"]), failed[metric["id"]])
        else:  # DriftedColumnsCount: its test fails when the drifted share reaches drift_share
            dataset = failed[metric["id"]]
    return seconds, columns, dataset


def disagreements(
    ours: list[ColumnDrift], theirs: dict[str, tuple[str, float, bool]], their_dataset: bool
) -> list[str]:
    problems = []
    for drift in ours:
        method, score, drifted = theirs[drift.column]
        gap = abs(drift.statistic - score)
        if method != drift.method or gap > TOLERANCE * max(1.0, abs(score)):
            problems.append(f"{drift.column}: {drift.method}={drift.statistic!r} vs {score!r}")
        if drifted != drift.drifted:
            problems.append(f"{drift.column}: verdict {drift.drifted} vs Evidently {drifted}")
    if dataset_drift(ours)[1] != their_dataset:
        problems.append(f"dataset verdict {dataset_drift(ours)[1]} vs Evidently {their_dataset}")
    return problems


def run_alibi(
    python: str, reference: pd.DataFrame, currents: list[pd.DataFrame]
) -> list[dict[str, Any]]:
    """TabularDrift (fit on `reference`) on each current frame, in alibi-detect's interpreter."""
    columns = list(KINDS)
    categories = {c: pd.Index(reference[c].astype(str).unique()) for c in CATEGORICAL}

    def matrix(frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(columns)))
        for i, column in enumerate(columns):
            if column in categories:
                out[:, i] = categories[column].get_indexer(frame[column].astype(str))
            else:
                out[:, i] = frame[column].to_numpy(dtype=np.float64)
        return out

    with tempfile.TemporaryDirectory(prefix="mlcheck-alibi-") as folder:
        base = Path(folder)
        np.save(base / "reference.npy", matrix(reference))
        paths = []
        for i, frame in enumerate(currents):
            paths.append(str(base / f"current{i}.npy"))
            np.save(paths[-1], matrix(frame))
        request = {
            "reference": str(base / "reference.npy"),
            "currents": paths,
            "columns": columns,
            "categorical": CATEGORICAL,
            "p_val": ALIBI_P_VALUE,
        }
        (base / "request.json").write_text(json.dumps(request))
        out = subprocess.run(
            [python, str(ALIBI_SCRIPT), str(base / "request.json")],
            capture_output=True,
            text=True,
            timeout=600 + 120 * len(currents),
        )
    if out.returncode != 0:
        raise RuntimeError(f"alibi-detect failed: {out.stderr.strip()[-800:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _alibi_drifted(answer: dict[str, Any]) -> list[str]:
    return [c for c, p in answer["p_values"].items() if p < answer["threshold"]]


def _timed(rows: int, python: str | None) -> dict[str, Any]:
    reference, current = frames(rows)
    data_bytes = int(
        reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
    )
    started = time.perf_counter()
    ours = frame_drift(reference, current, KINDS)
    our_seconds = time.perf_counter() - started
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    frame_drift(reference, current, KINDS)
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    their_seconds, theirs, their_dataset = run_evidently(reference, current)
    result: dict[str, Any] = {
        "rows": rows,
        "mlcheck_s": our_seconds,
        "evidently_s": their_seconds,
        "evidently_ratio": their_seconds / our_seconds,
        "mlcheck_peak_extra_mib": peak / 2**20,
        "frames_mib": data_bytes / 2**20,
        "mlcheck_drifted": [d.column for d in ours if d.drifted],
        "disagreements_with_evidently": disagreements(ours, theirs, their_dataset),
    }
    if python:
        answer = run_alibi(python, reference, [current])[0]
        result |= {
            "alibi_s": answer["seconds"],
            "alibi_ratio": answer["seconds"] / our_seconds,
            "alibi_drifted": _alibi_drifted(answer),
        }
    return result


def _false_alarms(
    rows: int, resamples: int, shift_sd: float, evidently_resamples: int, python: str | None
) -> dict[str, Any]:
    reference = generate(rows, seed=1)[list(KINDS)]
    currents = [tiny_shift(reference, rows, 100 + i, shift_sd) for i in range(resamples)]
    ours = [frame_drift(reference, current, KINDS) for current in currents]
    result: dict[str, Any] = {
        "rows": rows,
        "resamples": resamples,
        "shift_sd": shift_sd,
        "mlcheck_dataset_drift_rate": float(np.mean([dataset_drift(o)[1] for o in ours])),
        "mlcheck_column_alarm_rate": float(
            np.mean([[d.drifted for d in o if d.column in NUMERIC] for o in ours])
        ),
        "mlcheck_methods": sorted({d.method for o in ours for d in o}),
    }
    evidently = []
    for current, mine in zip(currents[:evidently_resamples], ours, strict=False):
        _, theirs, their_dataset = run_evidently(reference, current)
        evidently.append(
            (
                their_dataset,
                [theirs[c][2] for c in NUMERIC],
                disagreements(mine, theirs, their_dataset),
            )
        )
    if evidently:
        result |= {
            "evidently_resamples": len(evidently),
            "evidently_dataset_drift_rate": float(np.mean([e[0] for e in evidently])),
            "evidently_column_alarm_rate": float(np.mean([e[1] for e in evidently])),
            "evidently_disagreements": [p for e in evidently for p in e[2]],
        }
    if python:
        answers = run_alibi(python, reference, currents)
        result |= {
            "alibi_dataset_drift_rate": float(np.mean([a["is_drift"] for a in answers])),
            "alibi_column_alarm_rate": float(
                np.mean([[a["p_values"][c] < a["threshold"] for c in NUMERIC] for a in answers])
            ),
        }
    return result


def drift_section(
    sizes: tuple[int, ...] = (100_000, 1_000_000),
    resamples: int = 20,
    shift_sd: float = 0.02,
    evidently_resamples: int = 2,
) -> Section:
    python = alibi_python()
    timed = [_timed(rows, python) for rows in sizes]
    alarms = _false_alarms(max(sizes), resamples, shift_sd, evidently_resamples, python)
    data = {"alibi_detect": python or "not measured", "timed": timed, "false_alarms": alarms}
    rows = []
    for t in timed:
        agree = "yes" if not t["disagreements_with_evidently"] else "NO"
        rows.append(
            (
                f"{t['rows']:,}",
                t["mlcheck_s"],
                f"{t['evidently_s']:.2f} ({t['evidently_ratio']:.0f}x)",
                f"{t['alibi_s']:.2f} ({t['alibi_ratio']:.1f}x)" if "alibi_s" in t else "-",
                agree,
                t["mlcheck_peak_extra_mib"],
            )
        )
    lines = markdown_table(
        [
            "rows",
            "mlcheck s",
            "Evidently s (ratio)",
            "alibi-detect s (ratio)",
            "same verdicts as Evidently",
            "mlcheck peak extra MiB",
        ],
        rows,
    )
    what = f"{alarms['resamples']} samples of {alarms['rows']:,} rows shifted {shift_sd} sd"
    alarm_rows = [
        (
            "mlcheck (" + ", ".join(alarms["mlcheck_methods"]) + ")",
            alarms["mlcheck_dataset_drift_rate"],
            alarms["mlcheck_column_alarm_rate"],
            alarms["resamples"],
        )
    ]
    if "evidently_resamples" in alarms:
        alarm_rows.append(
            (
                "Evidently DataDriftPreset",
                alarms["evidently_dataset_drift_rate"],
                alarms["evidently_column_alarm_rate"],
                alarms["evidently_resamples"],
            )
        )
    if "alibi_dataset_drift_rate" in alarms:
        alarm_rows.append(
            (
                "alibi-detect TabularDrift (KS, chi2, Bonferroni)",
                alarms["alibi_dataset_drift_rate"],
                alarms["alibi_column_alarm_rate"],
                alarms["resamples"],
            )
        )
    lines += ["", f"False alarms on {what}:", ""]
    lines += markdown_table(
        ["tool", "data called drifted", "numeric columns flagged", "samples"], alarm_rows
    )
    if not python:
        lines.append("")
        lines.append(
            "- alibi-detect not measured: it needs numpy < 2; `bash scripts/alibi-venv.sh` "
            "makes `.venv-alibi` (or set MLCHECK_ALIBI_PYTHON)"
        )
    return Section("drift", "Drift: mlcheck vs Evidently and alibi-detect, 14 columns", data, lines)
