"""`mlcheck gate` for the tests: each run a fresh process forked from one that has imported
what a run imports.

A small gate run in a new interpreter spends most of its time importing (mlflow, scipy,
pandas, pandera, the model libraries, pytest and its plugins, Evidently), and the tests run the
gate about a hundred times: side by side, a quality and schema run on the demo took 5.8 s
fresh and 2.2 s forked. Here each run is a new process forked from a server that imported
those modules once (multiprocessing's forkserver, which imports and never computes, so no
thread pool is forked): the same `mlcheck gate` code runs in it (options, the stale reports
removed, the pending gate.json, pytest with the plugin, the exit code from gate.json), with
pytest in the run's own process rather than a child of it. What that leaves out, a signal
reaching pytest's process group and the two processes of a real run, is held by the runs that
start `mlcheck gate` afresh: the demo's gate (`fresh=True`), the interrupted gate, the
fault-injection runs, the wheel and the core install. `MLCHECK_TEST_GATE=subprocess` runs every
gate of the tests afresh.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tests.conftest import ROOT

__all__ = ["run_gate"]

#: What a gate run imports, imported once by the forkserver.
PRELOAD = (
    "tests.gate_runner",
    "mlcheck.cli",
    "mlcheck.commands.gate",
    "mlcheck.plugin",
    "mlcheck.run.parts",
    "mlcheck.run.steps",
    "mlcheck.run.model_steps",
    "mlcheck.run.data_steps",
    "mlcheck.run.artifacts",
    "mlcheck.reports.render",
    "mlcheck.serving.process",
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "xgboost",
    "lightgbm",
    "sklearn.ensemble",
    "scipy.stats",
    "pandera.pandas",
    "evidently",
    "pytest",
    "pytest_html",
)

#: The exit code of a forked run that failed outside `mlcheck gate` (`mlcheck gate` exits 0, 1
#: or 2): a test that expects a gate to block (1) cannot pass on it.
RUNNER_FAILED = 70

_context: multiprocessing.context.ForkServerContext | None = None


def _forkserver() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(list(PRELOAD))
    return _context


def _pytest_here(
    command: Sequence[str], env: Mapping[str, str], grace_s: float = 0.0
) -> tuple[int, str | None]:
    """`run_interruptible`'s stand-in: the gate's pytest in this process."""
    import pytest

    assert list(command[:3]) == [sys.executable, "-m", "pytest"], command
    os.environ.clear()  # the environment the subprocess would get, and nothing else
    os.environ.update(env)
    return int(pytest.main(list(command[3:]))), None


def _child(args: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """The forked run: `mlcheck gate ARGS` with its output in the files `out` and `err`."""
    for fd, path in ((1, out), (2, err)):
        with open(path, "wb") as file:
            os.dup2(file.fileno(), fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    try:
        import mlcheck.commands.gate as gate_command
        from mlcheck.cli import main

        gate_command.run_interruptible = _pytest_here  # type: ignore[assignment]
        code = main(["gate", *args])
    except Exception:  # the runner's own failure: never an exit code a gate run gives
        traceback.print_exc()
        code = RUNNER_FAILED
    finally:
        atexit._run_exitfuncs()  # as an interpreter's exit would (a forked child skips them)
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


def run_gate(
    args: Sequence[str | Path],
    cwd: Path | str = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    fresh: bool = False,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`mlcheck gate ARGS` run in `cwd` (output captured), as a forked process; with `fresh`
    (or `MLCHECK_TEST_GATE=subprocess`) as `python -m mlcheck gate` in a new interpreter.

    `preexec_fn` runs in the new interpreter's process before it starts (resource limits, as
    `subprocess.run` takes it): it needs `fresh=True`, else ValueError, since a forked run
    has no such step and would silently run without it."""
    if preexec_fn is not None and not fresh:
        raise ValueError("preexec_fn needs fresh=True: a forked gate run does not run it")
    argv = [str(a) for a in args]
    if fresh or os.environ.get("MLCHECK_TEST_GATE") == "subprocess":
        command = [sys.executable, "-m", "mlcheck", "gate", *argv]
        return subprocess.run(
            command,
            cwd=cwd,
            env=env,
            preexec_fn=preexec_fn,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    with tempfile.TemporaryDirectory(prefix="mlcheck-gate-run-") as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        given = dict(os.environ if env is None else env)
        process = _forkserver().Process(
            target=_child, args=(argv, str(cwd), given, str(out), str(err))
        )
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["mlcheck", "gate", *argv], timeout)
        return subprocess.CompletedProcess(
            ["mlcheck", "gate", *argv],
            process.exitcode,
            out.read_text(errors="replace") if out.exists() else "",
            err.read_text(errors="replace") if err.exists() else "",
        )
