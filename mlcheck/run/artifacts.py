"""Reports of a run that are artifacts for people, not gates: the inferred schema to copy and
edit, and Evidently's drift report. Written once the gates have decided; a failure to write
one is a note in the terminal, never a verdict."""

from __future__ import annotations

from pathlib import Path

from mlcheck.extras import MissingExtra
from mlcheck.reports.drift_html import write_drift_report
from mlcheck.results import SuiteResult
from mlcheck.run.parts import Run
from mlcheck.schema import save_schema

__all__ = ["write_artifacts"]


def write_artifacts(run: Run, suite: SuiteResult) -> list[str]:
    """Write `schema.yaml` (when the run inferred its schema) and `drift.html` (when drift
    gates ran) to the report folder; returns what the terminal should say. Never raises."""
    data = run.data
    report_dir = Path(run.spec.options.report_dir)
    loaded = run.loaded  # only what the run loaded anyway: nothing is loaded for a report
    notes = []
    path = report_dir / "schema.yaml"  # the report being written: its error names it
    try:
        if loaded("schema") is not None and data.schema_inferred:
            saved = save_schema(data.schema, path)
            notes.append(f"the schema was inferred from the reference data: {saved} (copy, edit)")
        path = report_dir / "drift.html"
        ran_drift = any(gate.name.startswith("drift.") for gate in suite.gates)
        rows = run.spec.policy.drift.report_rows if loaded("policy") is not None else 0
        have = all(loaded(name) is not None for name in ("reference", "current", "kinds"))
        if ran_drift and rows and have:
            kinds = dict(data.kinds)
            if data.target in data.current.columns:
                kinds[data.target] = "categorical"
            write_drift_report(data.reference, data.current, kinds, path, max_rows=rows)
    except MissingExtra as exc:  # one line that names the extra
        notes.append(f"{path} was not written: {exc}")
    except Exception as exc:  # an artifact for people must not change the verdict
        notes.append(f"{path} was not written: {type(exc).__name__}: {exc}")
    return notes
