"""The stack of one gate run, for the pytest plugin: started on first use, closed at the end.

`StackSession` keeps the stack alive until the session finishes, so the gate reports can be
logged to MLflow after gate.json is written; `stack_for_run` is the same as a context manager
for callers that do not log. `stack_gates_after_load` is the body of the stack suite.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mlcheck.errors import InfrastructureError, MlcheckError
from mlcheck.results import GateResult, SuiteResult
from mlcheck.stack.exporter import GateMetrics
from mlcheck.stack.launch import Stack, choose_backend, start_stack

if TYPE_CHECKING:
    from mlcheck.gates.load import LoadStats
    from mlcheck.inputs import GateInputs

__all__ = ["STACK_OFF_REASON", "StackSession", "stack_for_run", "stack_gates_after_load"]

STACK_OFF_REASON = "--mlcheck-stack=off: the stack gates are skipped (no Prometheus, no MLflow)"


class StackSession:
    """The run's stack and gate exporter; `start` on first use, `close` once at the end."""

    def __init__(self, model: str = "") -> None:
        self.gate_metrics = GateMetrics(model=model)
        self.stack: Stack | None = None
        self.skipped: str | None = None
        self._error: MlcheckError | None = None
        self._work: Path | None = None

    def start(self, inputs: GateInputs, served_url: str) -> Stack | None:
        """The started stack, or None when `--mlcheck-stack=off` (skip with STACK_OFF_REASON)."""
        if self.stack is not None or self.skipped is not None:
            return self.stack
        if self._error is not None:
            raise self._error  # a failed start is not retried by every test
        try:
            policy = inputs.policy.stack
            backend, _ = choose_backend(inputs.options.stack, policy)
            if backend == "off":
                self.skipped = STACK_OFF_REASON
                return None
            self._work = Path(tempfile.mkdtemp(prefix="mlcheck-stack-"))
            gates_url = self.gate_metrics.start()
            self.stack = start_stack(
                inputs.options.stack, served_url, self._work, policy, gates_url=gates_url
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

    def log_run(self, suite: SuiteResult, inputs: GateInputs) -> str | None:
        """Log the finished run to the stack's MLflow; its run id, or None with no stack."""
        if self.stack is None or self.stack.mlflow is None:
            return None
        from mlcheck.stack.mlflow_log import gate_run_params, log_gate_run

        data: dict[str, Path | None] = {}
        for kind in ("reference", "current"):
            try:
                data[kind] = inputs.data_path(kind)
            except MlcheckError:
                data[kind] = None
        source = Path(inputs.policy.source)
        params = gate_run_params(
            inputs.options.model,
            data,
            source if source.is_file() else None,
            stack_backend=self.stack.backend,
        )
        report_dir = Path(inputs.options.report_dir)
        return log_gate_run(self.stack.mlflow.url, suite, report_dir, params)

    def finish(self, suite: SuiteResult | None, inputs: GateInputs) -> str:
        """Log the run to MLflow, then close; one line for the terminal, never raises.

        Runs after every report is written (the plugin calls it at unconfigure), so a failed
        logging leaves gate.json and the verdict as they are.
        """
        report_dir = Path(inputs.options.report_dir)
        note = self.skipped or ""
        try:
            if suite is not None and self.stack is not None and self.stack.mlflow is not None:
                url = self.stack.mlflow.url
                run_id = self.log_run(suite, inputs)
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


@contextmanager
def stack_for_run(
    inputs: GateInputs, served_url: str, log_dir: Path | None = None
) -> Iterator[Stack | None]:
    """The run's stack for a `with` block; None when `--mlcheck-stack=off`."""
    session = StackSession(model=inputs.options.model)
    try:
        yield session.start(inputs, served_url)
    finally:
        session.close(log_dir)


def stack_gates_after_load(
    stack: Stack, served_url: str, inputs: GateInputs, out_dir: Path
) -> tuple[list[GateResult], LoadStats]:
    """A bounded locust run against the serving core, then the gates read from Prometheus.

    The counters are read from a scrape that started after the load ended (and one before
    it began), and the alerts after the rules had time to fire: `stack.alerts` comes last.
    """
    from mlcheck.gates.load import load_for_run
    from mlcheck.stack.promql import Scrape, alert_gate, prometheus_gates

    policy = inputs.policy
    client = stack.prometheus_client()
    inputs.current  # noqa: B018 - unreadable data: the stack gates cannot decide (DataError)
    before = Scrape.next(client)
    stats, _, _ = load_for_run(served_url, inputs, out_dir)
    after = Scrape.next(client)
    if stats.requests == 0:
        raise InfrastructureError(
            "the load sent no request to the serving core, so Prometheus has nothing to judge; "
            f"see {out_dir}/load.html and the locust output"
        )
    gates = prometheus_gates(client, before, after, stats.requests, policy.stack)
    # `for:` of the run's rules, and two evaluations to act on the last scrape
    time.sleep(stack.alert_for_s + 2 * policy.stack.scrape_interval_s)
    gates.append(alert_gate(client))
    which = {"stack_backend": stack.backend, "stack_reason": stack.reason}
    return [replace(g, details={**g.details, **which}) for g in gates], stats
