"""The pytest plugin: `--mlcheck-*` options, fixtures for the run's parts, and the gate report.

Suites opt in to gate reporting with `enable_gate_reports(config)` in their conftest; then
every test becomes a gate record (a recorded `GateResult`, or PASS/FAIL/ERROR from the test's
own outcome), and the session ends with `reports/gate.json`, `summary.md`, the gate table in
the terminal and in the pytest-html report, and exit status 2 when a gate could not decide.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlcheck.errors import ConfigError, MlcheckError, NotApplicable
from mlcheck.resources import resource
from mlcheck.results import GateResult, Outcome, SuiteResult
from mlcheck.run.options import RUN_ID_ENV, RunOptions, add_gate_options
from mlcheck.run.selection import Selection, overlap, parse_only, selected_paths

if TYPE_CHECKING:
    from mlcheck.run.data import Data
    from mlcheck.run.parts import Run
    from mlcheck.run.scores import Scores
    from mlcheck.run.serving import Serving


@dataclass
class _State:
    options: RunOptions
    say: Callable[[str, str], None]  # progress to the terminal, past the output capture
    enabled: bool = False
    results: dict[str, list[GateResult]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per test: setup+call+teardown
    suite: SuiteResult | None = None
    stack: Any = None  # mlcheck.stack.session.StackSession, made by the mlcheck_stack fixture
    only: tuple[str, ...] = ()  # the suites of --mlcheck-only; () for all
    deselected: int = 0  # tests -k, -m or --deselect left out
    fatal: GateResult | None = None  # why the run stopped before its suites (a model not loading)
    quiet: bool = False  # the terminal shows no tracebacks (they are in report.html)
    launched: Any = None  # mlcheck.serving.process.ServedModel started early, not yet taken
    _run: Run | None = None

    @property
    def run(self) -> Run:
        """The run's parts, made on first use: a pytest run that records no gates never
        imports them (models, data, statistics: ~1.2 s of every session)."""
        if self._run is None:
            from mlcheck.run.parts import Run

            self._run = Run(self.options, say=self.say)
        return self._run


STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlcheck", "mlcheck quality gates")
    add_gate_options(group.addoption, "mlcheck-")
    group.addoption(
        "--mlcheck-gate-reports",
        action="store_true",
        help="record every test as a gate and write reports/gate.json (what `mlcheck gate` "
        "does; a suite's conftest may turn it on with enable_gate_reports)",
    )


def _live(config: pytest.Config) -> Callable[[str, str], None]:
    """Progress written to the terminal as it happens, past pytest's output capture."""

    def say(text: str, end: str) -> None:
        capture = config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            sys.stderr.write(text + end)
            sys.stderr.flush()

    return say


def _config_state(config: pytest.Config) -> _State:
    """The run's state, made on first use (a suite's conftest may ask before our configure)."""
    if STATE not in config.stash:
        options = RunOptions.from_getter(config.getoption, "mlcheck-")
        config.stash[STATE] = _State(options=options, say=_live(config))
    return config.stash[STATE]


def pytest_configure(config: pytest.Config) -> None:
    state = _config_state(config)
    try:
        state.only = parse_only(state.options.only)
    except MlcheckError as exc:
        raise pytest.UsageError(str(exc).replace("--only", "--mlcheck-only", 1)) from None
    if config.getoption("mlcheck_gate_reports", False):
        enable_gate_reports(config)
    config.addinivalue_line(
        "markers", "mlcheck_gate(name): the gate name this test reports (may use {param})"
    )


class _ReportGuard:
    """Around every plugin's session finish (ours writes gate.json, pytest-html report.html):
    one that fails, such as a report the disk cannot take, turns the verdict into ERROR."""

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Any:
        try:
            return (yield)
        except Exception as exc:
            state = session.config.stash.get(STATE, None)
            if state is not None and state.suite is not None:
                where = _report_file(exc, session.config)
                why = f"a report ({where}) could not be written: {type(exc).__name__}: {exc}"
                gates = [*state.suite.gates, GateResult.error("mlcheck.reports", why)]
                state.suite = SuiteResult.of(gates, **state.suite.context)
                from mlcheck.reports import write_reports

                # if even this fails, the ERROR gate.json of the run's start stays
                with contextlib.suppress(OSError):
                    write_reports(state.suite, state.options.report_dir, index=False)
            raise


def _report_file(exc: BaseException, config: pytest.Config) -> str:
    """Which report `exc` stopped: the file an OSError names, else the one its plugin writes."""
    if isinstance(exc, OSError) and exc.filename:
        return str(exc.filename)
    files = {
        "pytest_html": getattr(config.option, "htmlpath", None),
        "_pytest.junitxml": getattr(config.option, "xmlpath", None),
        "mlcheck.": "gate.json, summary.md",
    }
    frames = [
        frame.f_globals.get("__name__", "") for frame, _ in traceback.walk_tb(exc.__traceback__)
    ]
    for module in reversed(frames):  # the innermost frame of a report writer decides
        for prefix, path in files.items():
            if module.startswith(prefix) and path:
                return str(path)
    return "a report plugin's file"


def enable_gate_reports(config: pytest.Config) -> None:
    """Turn on gate records and reports; call it from a suite's `pytest_configure(tryfirst)`."""
    state = _config_state(config)
    if not state.enabled:
        config.pluginmanager.register(_ReportGuard(), "mlcheck-report-guard")
    state.enabled = True
    report_dir = Path(state.options.report_dir)
    if not getattr(config.option, "htmlpath", None):
        config.option.htmlpath = str(report_dir / "report.html")
        config.option.self_contained_html = True


def _state(request: pytest.FixtureRequest) -> _State:
    return request.config.stash[STATE]


@pytest.fixture(scope="session")
def mlcheck_run(request: pytest.FixtureRequest) -> Run:
    """The run's parts (`spec`, `model`, `data`, `scores`, `serving`), each loaded on first use."""
    return _state(request).run


@pytest.fixture(scope="session")
def mlcheck_data(mlcheck_run: Run) -> Data:
    """The run's data: `reference`, `current`, `target`, `schema`, `kinds`, ..."""
    return mlcheck_run.data


@pytest.fixture(scope="session")
def mlcheck_scores(mlcheck_run: Run) -> Scores:
    """What the model says about the data: `task`, `labels`, `scores`, `champion`, ..."""
    return mlcheck_run.scores


@pytest.fixture(scope="session")
def mlcheck_serving(mlcheck_run: Run) -> Serving:
    """How the model is served: `serving_config()`, `served_records(n)`, `load_run(...)`."""
    return mlcheck_run.serving


@pytest.fixture(scope="session")
def mlcheck_inputs() -> Any:
    """Gone: a suite that still asks for it is an ERROR that names what replaced it."""
    raise ConfigError(
        "the fixture mlcheck_inputs is replaced by the run's parts: mlcheck_data (reference, "
        "current, target, schema, kinds), mlcheck_scores (model, task, labels, scores, "
        "champion), mlcheck_serving (serving_config, served_records) and mlcheck_run (all of "
        "them, and spec.policy); ask for the one the test uses"
    )


@pytest.fixture(scope="session")
def mlcheck_policy(mlcheck_run: Run) -> Any:
    return mlcheck_run.spec.policy


@pytest.fixture(scope="session")
def mlcheck_model(mlcheck_run: Run) -> Any:
    return mlcheck_run.model.model


@pytest.fixture(scope="session")
def mlcheck_current(mlcheck_data: Data) -> Any:
    return mlcheck_data.current


@pytest.fixture(scope="session")
def mlcheck_reference(mlcheck_data: Data) -> Any:
    return mlcheck_data.reference


@pytest.fixture(scope="session")
def mlcheck_served_model(request: pytest.FixtureRequest, mlcheck_serving: Serving) -> Iterator[Any]:
    """The run's model served by a real `mlcheck serve` subprocess on a free 127.0.0.1 port,
    with the policy's schema and decision threshold (`Serving.serving_config`); the one
    launched when the session started (`_launch_served_model`) if its config is the same."""
    from mlcheck.serving.process import ServedModel

    config = mlcheck_serving.serving_config()
    state = _state(request)
    launched, state.launched = state.launched, None
    if launched is not None and launched.config != config:
        launched.stop()  # started for another config (the model's task learnt since)
        launched = None
    with launched or ServedModel(config) as served:
        yield served


@pytest.fixture(scope="session")
def mlcheck_stack(
    request: pytest.FixtureRequest, mlcheck_run: Run, mlcheck_served_model: Any
) -> Any:
    """Real Prometheus (scraping the served model) and MLflow, kept until the reports are logged.

    Skips with the reason when `--mlcheck-stack=off`; the backend `auto` picked and why is in
    each stack gate's details and the terminal.
    """
    from mlcheck.stack.session import STACK_OFF_REASON, StackSession

    state = _state(request)
    if state.stack is None:
        state.stack = StackSession(model=mlcheck_run.model.uri or "none")
    state.stack.observe(g for results in state.results.values() for g in results)
    options, policy = mlcheck_run.spec.options, mlcheck_run.spec.policy
    stack = state.stack.start(options.stack, policy.stack, mlcheck_served_model.url)
    if stack is None:
        pytest.skip(STACK_OFF_REASON)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"mlcheck: {stack.describe()}")
    return stack


@pytest.fixture
def record_gates(
    request: pytest.FixtureRequest,
) -> Callable[[GateResult | Iterable[GateResult]], list[GateResult]]:
    """Record this test's gate results (they land in gate.json), then fail the test with their
    messages when one blocks (FAIL or ERROR). Returns the results."""
    recorded = _state(request).results.setdefault(request.node.nodeid, [])

    def record(results: GateResult | Iterable[GateResult]) -> list[GateResult]:
        __tracebackhide__ = True
        batch = [results] if isinstance(results, GateResult) else list(results)
        recorded.extend(batch)
        blocked = [result.message for result in batch if not result.passed]
        if blocked:
            raise AssertionError("\n".join(blocked))
        return batch

    return record


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `quality_metric` and `slice_column` from the policy."""
    wanted = {"quality_metric", "slice_column"} & set(metafunc.fixturenames)
    if not wanted:
        return
    run = metafunc.config.stash[STATE].run
    try:
        quality = run.spec.policy.quality
        # the thresholds depend on the task, which the model (and its outputs) may decide
        rules = quality.rules(run.scores.task) if "quality_metric" in wanted else ()
    except MlcheckError:
        for name in wanted:  # the fixtures raise the error again, as an ERROR gate
            metafunc.parametrize(name, ["policy-error"])
        return
    if "quality_metric" in wanted:
        metafunc.parametrize("quality_metric", [t.metric for t in rules])
    if "slice_column" in wanted:
        columns: list[Any] = list(quality.slices.columns) if quality.slices else []
        if not columns:  # one skipped gate `quality.slice` that says why, not pytest's NotSet
            why = "no slice columns: name categorical columns in [quality.slices] columns"
            columns = [pytest.param("", marks=pytest.mark.skip(reason=why))]
        metafunc.parametrize("slice_column", columns)


def _gate_name(item: pytest.Item) -> str:
    marker = item.get_closest_marker("mlcheck_gate")
    if marker is not None and marker.args:
        params = getattr(getattr(item, "callspec", None), "params", {})
        try:
            return str(marker.args[0]).format(**params).rstrip(".")
        except (KeyError, IndexError):
            return str(marker.args[0])
    return item.nodeid


def _reason(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    exc = excinfo.value
    if isinstance(exc, MlcheckError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text} (an unexpected error; see the test report)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    if call.excinfo is not None and isinstance(call.excinfo.value, NotApplicable):
        why = str(call.excinfo.value)  # a step said the gate does not apply: pytest's SKIP
        call.excinfo = pytest.CallInfo.from_call(lambda: pytest.skip(why), call.when).excinfo
    report = yield
    state = item.config.stash[STATE]
    if not state.enabled:
        return report
    results = state.results.setdefault(item.nodeid, [])
    state.seconds[item.nodeid] = state.seconds.get(item.nodeid, 0.0) + report.duration
    name = _gate_name(item)
    if report.when == "setup":
        if report.failed and call.excinfo is not None:
            results.append(GateResult.error(name, _reason(call.excinfo)))
        elif report.skipped:
            reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
            results.append(GateResult(name, Outcome.SKIP, "-", reason=reason))
    elif report.when == "call":
        excinfo = call.excinfo
        if report.failed and excinfo is not None:
            if not isinstance(excinfo.value, AssertionError):
                results.append(GateResult.error(name, _reason(excinfo)))
            elif not any(r.outcome.blocks for r in results):
                message = str(excinfo.value).strip().splitlines()
                results.append(
                    GateResult(
                        name, Outcome.FAIL, "assertion", reason=message[0] if message else ""
                    )
                )
        elif report.skipped and not results:
            reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
            results.append(GateResult(name, Outcome.SKIP, "-", reason=reason))
        elif report.passed and not results:
            results.append(GateResult(name, Outcome.PASS, "checks"))
    elif report.when == "teardown" and report.failed and call.excinfo is not None:
        results.append(GateResult.error(name, "teardown: " + _reason(call.excinfo)))
    if report.when == "teardown" and state.stack is not None:
        state.stack.observe(results)  # accuracy and drift gauges for the alert rules
    return report


def _builtin_suites() -> Path:
    return resource("suites").resolve()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With --mlcheck-only, only the named suites (and the folders above them) are collected."""
    state = config.stash.get(STATE, None)
    if state is None or not state.only:
        return None
    path = collection_path.resolve()
    keep = [p.resolve() for p in selected_paths(state.only, _builtin_suites())]
    return None if any(overlap(path, k) for k in keep) else True


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        state = items[0].config.stash.get(STATE, None)
        if state is not None:
            state.deselected += len(items)


def _args(config: pytest.Config) -> tuple[str, ...]:
    """The paths (or node ids) pytest collects, absolute."""
    return tuple(str(config.invocation_params.dir / str(arg)) for arg in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> bool | None:
    """A run of mlcheck's suites loads its model before collecting them: a model that cannot
    load (a package it needs is not installed, a registry that does not answer) stops the run
    at once with one ERROR gate, instead of an ERROR from each of the gates that need it."""
    state = session.config.stash.get(STATE, None)
    if state is None or not state.enabled or state.run.model.uri is None:
        return None
    root = _builtin_suites()
    paths = [Path(arg.split("::")[0]) for arg in _args(session.config)]
    if not any(overlap(path, root) for path in paths):
        return None  # a user's own suites: the model loads when a gate asks for it
    try:
        state.run.spec.policy  # noqa: B018 - a policy error is each gate's, not the model's
    except MlcheckError:
        return None
    try:
        state.run.model.model  # noqa: B018 - loaded once for the run; a failure is kept
    except MlcheckError as exc:
        state.fatal = GateResult.error("mlcheck.model", str(exc))
        session.items = []
        return True  # nothing is collected: the session ends with this one gate
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """A suite run by pytest itself says ERROR until it decides (`mlcheck gate` does the same
    before it starts pytest), so a killed run never leaves an older PASS behind."""
    state = session.config.stash.get(STATE, None)
    if state is None or not state.enabled or os.environ.get(RUN_ID_ENV):
        return
    from mlcheck.reports import STALE_REPORTS, write_reports

    report_dir = Path(state.options.report_dir)
    with contextlib.suppress(OSError):
        for older in STALE_REPORTS:
            (report_dir / older).unlink(missing_ok=True)
        pending = GateResult.error("mlcheck.run", "the gate run started and did not finish")
        write_reports(SuiteResult.of([pending], run_id="pending"), report_dir, index=False)


def _timings(state: _State) -> dict[str, Any]:
    """Where the run's time went, for gate.json: seconds per loaded input (model, data,
    scores) and per test with the gates it recorded. A session fixture's work (the quality
    intervals, the drift statistics) counts in the first test that asked for it."""
    return {
        "inputs": {name: round(seconds, 3) for name, seconds in state.run.timings.items()},
        "tests": [
            {
                "test": nodeid,
                "gates": [gate.name for gate in state.results.get(nodeid, [])],
                "seconds": round(seconds, 3),
            }
            for nodeid, seconds in state.seconds.items()
        ],
    }


def pytest_collection_finish(session: pytest.Session) -> None:
    """When drift gates will run, import Evidently for the drift report on a thread now: the
    gates' numpy and model work leave the GIL free, so the import costs little wall time.
    When a gate needs the served model, its server starts now, beside the run's scoring."""
    state = session.config.stash.get(STATE, None)
    if state is None or not state.enabled:
        return
    drift = any(_gate_name(item).startswith("drift.") for item in session.items)
    if drift and _drift_report_rows(state.run):
        from mlcheck.reports.drift_html import preload

        threading.Thread(target=preload, name="mlcheck-preload", daemon=True).start()
    if any("mlcheck_served_model" in getattr(item, "fixturenames", ()) for item in session.items):
        _launch_served_model(state)


def _drift_report_rows(run: Run) -> int:
    """The policy's `[drift] report_rows` (0: no drift.html, nothing to preload); 0 when the
    policy is invalid (the gates report that)."""
    try:
        return run.spec.policy.drift.report_rows
    except MlcheckError:
        return 0


def _launch_served_model(state: _State) -> None:
    """Start the served model's process without waiting for it (the fixture waits), once the
    model is loaded and says its task. Anything that stops it here is left to the fixture,
    which meets the same error in the test that needs the server and reports it there."""
    run = state.run
    if state.fatal is not None or run.model.uri is None:
        return
    from mlcheck.serving.process import ServedModel

    try:
        if run.model.model.task is not None:  # a pyfunc learns its task from its first outputs
            state.launched = ServedModel(run.serving.serving_config()).launch()
    except (MlcheckError, OSError):
        state.launched = None


@pytest.hookimpl(tryfirst=True)  # gate.json first, then pytest-html's report with its table
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or not state.enabled:
        return
    gates = [gate for results in state.results.values() for gate in results]
    if state.fatal is not None:
        gates = [state.fatal]
    elif exitstatus == pytest.ExitCode.INTERRUPTED:
        gates.append(GateResult.error("mlcheck.run", "the run was interrupted; no verdict"))
    context = state.run.context()
    context["run_id"] = os.environ.get(RUN_ID_ENV, "")
    context["selection"] = Selection(
        only=state.only,
        args=_args(session.config),
        root=_builtin_suites(),
        keyword=session.config.option.keyword or "",
        marks=session.config.option.markexpr or "",
        deselected=state.deselected,
    ).to_dict()
    context["timings"] = _timings(state)
    state.suite = SuiteResult(gates=tuple(gates), context=context)
    from mlcheck.reports import write_reports
    from mlcheck.run.artifacts import write_artifacts

    write_reports(state.suite, state.options.report_dir, index=False)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for note in write_artifacts(state.run, state.suite):  # never raises
        if reporter is not None:
            reporter.write_line(f"mlcheck: {note}")
    if state.suite.verdict is Outcome.ERROR and session.exitstatus in (0, 1):
        session.exitstatus = 2
    if state.fatal is not None:
        session.exitstatus = 2  # not "no tests collected": the run stopped, and says why
    if _quiet(session.config):  # the reports above took the tracebacks; the terminal does not
        session.config.option.tbstyle = "no"
        state.quiet = True
        if reporter is not None:
            reporter.reportchars = ""  # no short summary nor warnings: the gate table says it


def _quiet(config: pytest.Config) -> bool:
    """Tracebacks go to report.html only, unless -v or --tb asks for them in the terminal."""
    return config.get_verbosity() <= 0 and config.option.tbstyle == "auto"


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """index.html last: it links the reports that exist, pytest-html's among them. Then the
    run is logged to the stack's MLflow (every report exists by now) and the stack stopped."""
    state = config.stash.get(STATE, None)
    if state is None:
        return
    if state.launched is not None:  # started early, and no gate took it
        state.launched.stop()
    if state.suite is not None:
        from mlcheck.reports import write_index

        write_index(state.suite, state.options.report_dir)
    if state.stack is not None:
        spec = state.run.spec
        report_dir = Path(spec.options.report_dir)
        note = state.stack.finish(state.suite, report_dir, spec.run_params())  # never raises
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if note and reporter is not None:
            reporter.write_line(f"mlcheck stack: {note}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.suite is None:
        return
    from mlcheck.reports import to_text

    terminalreporter.write_sep("=", "mlcheck gates")
    terminalreporter.write_line(to_text(state.suite, state.options.report_dir))
    failed = terminalreporter.stats.get("failed", []) + terminalreporter.stats.get("error", [])
    if failed and state.quiet:
        html = getattr(config.option, "htmlpath", None) or "the HTML report"
        terminalreporter.write_line(
            f"mlcheck: the tracebacks of {len(failed)} failed tests are in {html}; -v shows them"
        )


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.suite is None:
        return
    from mlcheck.reports import to_html_table

    prefix.append(to_html_table(state.suite))
