"""The stack of one gate run: started on first use, kept until the reports are logged, closed.

`StackSession` keeps the stack alive until the pytest session finishes, so the gate reports
can be logged to MLflow after gate.json is written. It is handed explicit values: which
backend was asked for, the `[stack]` policy, the serving core's URL, the run's parameters.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlcheck.errors import MlcheckError
from mlcheck.policy import StackPolicy
from mlcheck.results import GateResult, SuiteResult
from mlcheck.stack.exporter import GateMetrics
from mlcheck.stack.launch import Stack, choose_backend, start_stack

__all__ = ["STACK_OFF_REASON", "StackSession"]

STACK_OFF_REASON = "--mlcheck-stack=off: the stack gates are skipped (no Prometheus, no MLflow)"


class StackSession:
    """The run's stack and gate exporter; `start` on first use, `finish` once at the end."""

    def __init__(self, model: str = "") -> None:
        self.gate_metrics = GateMetrics(model=model)
        self.stack: Stack | None = None
        self.skipped: str | None = None
        self._error: MlcheckError | None = None
        self._work: Path | None = None

    def start(self, requested: str, policy: StackPolicy, served_url: str) -> Stack | None:
        """The started stack, or None when the backend is `off` (skip with STACK_OFF_REASON)."""
        if self.stack is not None or self.skipped is not None:
            return self.stack
        if self._error is not None:
            raise self._error  # a failed start is not retried by every test
        try:
            backend, reason = choose_backend(requested, policy)
            if backend is None:
                self.skipped = STACK_OFF_REASON
                return None
            self._work = Path(tempfile.mkdtemp(prefix="mlcheck-stack-"))
            gates_url = self.gate_metrics.start()
            self.stack = start_stack(
                backend, reason, served_url, self._work, policy, gates_url=gates_url
            )
        except MlcheckError as exc:
            self._error = exc
            self.close()
            raise
        return self.stack

    def observe(self, results: Iterable[GateResult]) -> None:
        """Publish gate results (accuracy, drift, every gate's value) for Prometheus."""
        for result in results:
            self.gate_metrics.observe(result)

    def finish(self, suite: SuiteResult | None, report_dir: Path, params: Mapping[str, Any]) -> str:
        """Log the run to the stack's MLflow, then close; one line for the terminal, never raises.

        `params` (model URI, data files, policy file) identify the run in MLflow. This runs
        after every report is written, so a failed logging leaves gate.json as it is.
        """
        note = self.skipped or ""
        try:
            if suite is not None and self.stack is not None and self.stack.mlflow is not None:
                from mlcheck.stack.mlflow_log import gate_run_params, log_gate_run

                url = self.stack.mlflow.url
                run_params = gate_run_params(
                    params["model"],
                    params["data"],
                    params["policy"],
                    stack_backend=self.stack.backend,
                )
                run_id = log_gate_run(url, suite, report_dir, run_params)
                note = (
                    f"gate run logged to MLflow run {run_id} at {url} (its store is kept in "
                    f"{report_dir / 'stack' / 'mlflow'})"
                )
        except MlcheckError as exc:
            note = f"MLflow logging failed; gate.json and the reports are written: {exc}"
        finally:
            try:
                self.close(report_dir / "stack")
            except MlcheckError as exc:
                note += f"; stopping the stack failed: {exc}"
        return note

    def close(self, log_dir: Path | None = None) -> None:
        """Stop everything (safe to call twice); keep the logs and MLflow store in `log_dir`."""
        stack, self.stack = self.stack, None
        try:
            if stack is not None:
                if log_dir is not None:
                    stack.save_logs(log_dir)
                stack.stop()
                if log_dir is not None and stack.mlflow is not None:
                    _keep_mlflow_store(stack.work_dir, log_dir / "mlflow")
        finally:
            self.gate_metrics.stop()
            work, self._work = self._work, None
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)


def _keep_mlflow_store(work: Path, out: Path) -> None:
    """The run's MLflow database and artifacts, browsable later with `mlflow server
    --backend-store-uri sqlite:///<out>/mlflow.db --artifacts-destination <out>/mlflow-artifacts`.
    """
    out.mkdir(parents=True, exist_ok=True)
    if (work / "mlflow.db").is_file():
        shutil.copy2(work / "mlflow.db", out / "mlflow.db")
    if (work / "mlflow-artifacts").is_dir():
        shutil.copytree(work / "mlflow-artifacts", out / "mlflow-artifacts", dirs_exist_ok=True)
