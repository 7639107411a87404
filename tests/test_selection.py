"""Narrowed runs say so (`--only`, `-k`, suite paths), and the console stays short: row errors
cut, a model whose package is missing named with its install command, reports named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlcheck.cli import main
from mlcheck.errors import ConfigError
from mlcheck.probes.http import _problems
from mlcheck.reports import to_markdown, to_text
from mlcheck.resources import resource
from mlcheck.results import GateResult, Outcome, SuiteResult
from mlcheck.run.selection import SUITE_NAMES, Selection, parse_only, selected_paths

ROOT = resource("suites")


def test_only_names_are_checked_and_kept_in_catalogue_order():
    assert parse_only("drift, quality") == ("quality", "drift")
    assert parse_only(None) == ()
    with pytest.raises(ConfigError) as caught:
        parse_only("drift,qualty")
    message = str(caught.value)
    assert "--only='drift,qualty'" in message and "'qualty'" in message
    assert ", ".join(SUITE_NAMES) in message
    with pytest.raises(ConfigError, match="names no suite"):
        parse_only(",")


def test_every_gate_file_of_mlcheck_belongs_to_one_suite_name():
    named = [path.resolve() for path in selected_paths(list(SUITE_NAMES), ROOT)]
    for test_file in ROOT.rglob("test_*.py"):
        owners = [p for p in named if p == test_file.resolve() or p in test_file.resolve().parents]
        assert len(owners) == 1, f"{test_file} is named by {len(owners)} suites of --only"


def test_a_full_run_records_that_it_is_full():
    data = Selection(only=(), args=(str(ROOT),), root=ROOT).to_dict()
    assert data["full"] is True and data["left_out"] == [] and data["deselected"] == 0
    assert data["suites"] == list(SUITE_NAMES)
    assert data["summary"] == "full run: every gate suite ran, nothing deselected"


def test_only_paths_and_keywords_make_a_partial_run():
    only = Selection(only=("drift",), args=(str(ROOT),), root=ROOT).to_dict()
    assert not only["full"] and only["suites"] == ["drift"] and "quality" in only["left_out"]
    assert only["summary"].startswith("partial run: only drift ran (left out: quality")
    subset = Selection(only=(), args=(str(ROOT / "schema"), str(ROOT / "drift")), root=ROOT)
    assert subset.to_dict()["suites"] == ["schema", "drift"] and not subset.to_dict()["full"]
    assert subset.to_dict()["summary"].startswith(
        "partial run: only suites/schema, suites/drift ran (left out: quality, compare, serving,"
    )
    one_test = Selection(only=(), args=(f"{ROOT / 'drift' / 'test_drift.py'}::test_x",), root=ROOT)
    assert "drift" in one_test.to_dict()["left_out"]
    keyword = Selection(only=(), args=(str(ROOT),), root=ROOT, keyword="schema", deselected=20)
    data = keyword.to_dict()
    assert not data["full"] and data["keyword"] == "schema" and data["deselected"] == 20
    assert data["summary"] == "partial run: -k 'schema' deselected 20 tests"


def test_a_users_own_suite_leaves_nothing_of_mlchecks_out(tmp_path):
    data = Selection(only=(), args=(str(tmp_path / "test_own.py"),), root=ROOT).to_dict()
    assert data["full"] and data["left_out"] == [] and data["suites"] == []
    assert data["summary"] == "full run: the suites given ran, nothing deselected"


def _suite(selection: Selection) -> SuiteResult:
    gate = GateResult("drift.age", Outcome.PASS, "psi", 0.1)
    return SuiteResult.of([gate], model="demo", selection=selection.to_dict())


def test_text_and_markdown_say_partial_run_only_when_partial():
    partial = _suite(Selection(only=("drift",), args=(), root=ROOT))
    assert "partial run: only drift ran" in to_text(partial)
    assert "partial run: only drift ran" in to_markdown(partial)
    full = _suite(Selection(only=(), args=(str(ROOT),), root=ROOT))
    assert "partial run" not in to_text(full) and "partial run" not in to_markdown(full)
    assert "partial run" not in to_text(SuiteResult.of([], model="demo"))  # older gate.json


def test_unknown_only_name_exits_2_naming_option_value_and_names(tmp_path, capsys):
    (tmp_path / "gate.json").write_text('{"verdict": "PASS"}')  # an older run's
    code = main(["gate", "--only", "drift,speed", "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "--only='drift,speed'" in err and "'speed'" in err and "quality, compare" in err
    assert json.loads((tmp_path / "gate.json").read_text())["verdict"] == "ERROR"


def test_only_with_suite_paths_or_extra_suites_is_a_usage_error(tmp_path, capsys):
    code = main(["gate", "--only", "drift", "suites/drift", "--report-dir", str(tmp_path)])
    assert code == 2 and "either suite names (--only) or suite paths" in capsys.readouterr().err
    code = main(["gate", "--only", "drift", "--suites", "extra", "--report-dir", str(tmp_path)])
    assert code == 2 and "--suites=extra" in capsys.readouterr().err


def test_gate_help_lists_the_suite_names(capsys):
    with pytest.raises(SystemExit):
        main(["gate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--only SUITE[,SUITE]" in out and "-v, --verbose" in out
    assert ", ".join(SUITE_NAMES) in out


def test_a_long_list_of_row_errors_is_cut_to_a_few():
    detail = [{"row": i, "field": "age", "error": "expected a number"} for i in range(50)]
    text = _problems({"detail": detail})
    assert text.count("expected a number") == 3 and text.endswith("and 47 more")
    assert text.startswith("row 0, field age: expected a number")
    assert _problems({"detail": detail[:2]}).count("expected a number") == 2
    assert len(_problems("x" * 5000)) < 400


def _pyfunc_needing(module: str, tmp_path: Path) -> Path:
    """A pyfunc model pickled with a class from `module`, which is then removed."""
    import mlflow.pyfunc

    package = tmp_path / "code"
    package.mkdir()
    (package / f"{module}.py").write_text(
        "import mlflow.pyfunc\n\n"
        "class Model(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return model_input\n"
    )
    sys.path.insert(0, str(package))
    try:
        imported = __import__(module)
        out = tmp_path / "model"
        mlflow.pyfunc.save_model(str(out), python_model=imported.Model(), pip_requirements=[])
    finally:
        sys.path.remove(str(package))
        sys.modules.pop(module, None)
    (package / f"{module}.py").unlink()
    return out


@pytest.fixture(scope="module")
def model_needing_a_missing_package(tmp_path_factory):
    return _pyfunc_needing("lightgbm_not_installed", tmp_path_factory.mktemp("missing"))


def test_a_model_whose_package_is_missing_names_it_and_the_install_command(
    model_needing_a_missing_package,
):
    from mlcheck.models.load import load_model

    with pytest.raises(ConfigError) as caught:
        load_model(str(model_needing_a_missing_package))
    message = str(caught.value)
    assert "needs the Python package 'lightgbm_not_installed'" in message
    assert message.endswith("install it: pip install lightgbm_not_installed")


@pytest.mark.slow  # a gate run in a subprocess (about 15 s: pytest and MLflow start)
def test_a_model_that_cannot_load_stops_the_gate_run_at_once(
    model_needing_a_missing_package, tmp_path
):
    """Exit 2 with one ERROR gate and one message, before any suite runs; the reports of an
    older run (a PASS gate.json, drift.html, load.html) are gone."""
    import subprocess

    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "gate.json").write_text('{"verdict": "PASS", "exit_code": 0}')
    for older in ("drift.html", "load.html"):
        (reports / older).write_text("<html>an older run</html>")
    run = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "mlcheck",
                "gate",
                "--model",
                str(model_needing_a_missing_package),
            ),
            *("--stack", "off", "--report-dir", str(reports)),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 2, output[-3000:]
    data = json.loads((reports / "gate.json").read_text())
    assert data["verdict"] == "ERROR" and [g["name"] for g in data["gates"]] == ["mlcheck.model"]
    assert "pip install lightgbm_not_installed" in data["gates"][0]["reason"]
    assert output.count("No module named 'lightgbm_not_installed'") == 1, output
    assert "Traceback" not in output and len(output.splitlines()) < 30, output
    assert not (reports / "drift.html").exists() and not (reports / "load.html").exists()


def test_a_report_that_is_not_written_is_named(tmp_path, monkeypatch):
    from mlcheck.run import artifacts
    from mlcheck.run.options import RunOptions
    from mlcheck.run.parts import Run

    def broken(*args, **kwargs):
        raise TypeError("a renderer broke")

    monkeypatch.setattr(artifacts, "write_drift_report", broken)
    run = Run(RunOptions(report_dir=str(tmp_path)))
    frame = __import__("pandas").DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    run.spec.policy  # noqa: B018 - loaded, as a run that gated would have
    run.data.__dict__.update(reference=frame, current=frame, kinds={"x": "numeric"}, target="y")
    suite = SuiteResult.of([GateResult("drift.x", Outcome.PASS, "psi", 0.0)])
    notes = artifacts.write_artifacts(run, suite)
    assert notes == [f"{tmp_path / 'drift.html'} was not written: TypeError: a renderer broke"]


@pytest.mark.slow  # a gate run in a subprocess (data alone, 2,000 rows: about 15 s)
def test_only_drift_runs_the_drift_suite_and_says_partial_run(tmp_path):
    import subprocess

    from mlcheck.data.bank import generate
    from mlcheck.data.io import write_table

    reference = write_table(generate(2000, 1).drop(columns=["y"]), tmp_path / "ref.csv")
    current = write_table(generate(2000, 2).drop(columns=["y"]), tmp_path / "cur.csv")
    reports = tmp_path / "reports"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "mlcheck", "gate", "--only", "drift", "--stack", "off"),
            *("--reference", str(reference), "--current", str(current)),
            *("--report-dir", str(reports)),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    data = json.loads((reports / "gate.json").read_text())
    assert {g["name"].split(".")[0] for g in data["gates"]} == {"drift"}
    selection = data["context"]["selection"]
    assert selection["full"] is False and selection["suites"] == ["drift"]
    assert "quality" in selection["left_out"] and "schema" in selection["left_out"]
    summary = (reports / "summary.md").read_text()
    assert "partial run: only drift ran (left out: quality" in summary
    assert "partial run: only drift ran" in run.stdout  # the gate table's header
    assert run.stderr.strip().splitlines()[-1].startswith("mlcheck gate: exit 0 (PASS) · partial")


def test_a_report_plugin_that_fails_is_named_by_its_file(tmp_path):
    from types import SimpleNamespace

    from mlcheck.plugin import _report_file

    config = SimpleNamespace(
        option=SimpleNamespace(htmlpath=str(tmp_path / "report.html"), xmlpath="junit.xml")
    )
    scope = {"__name__": "pytest_html.basereport"}
    exec("def render():\n    raise TypeError('cannot render')\n", scope)  # a plugin's frame
    try:
        scope["render"]()
    except TypeError as exc:
        assert _report_file(exc, config) == str(tmp_path / "report.html")  # type: ignore[arg-type]
    full = OSError(27, "File too large", str(tmp_path / "junit.xml"))
    assert _report_file(full, config) == str(tmp_path / "junit.xml")  # type: ignore[arg-type]
