"""`mlcheck gate` end to end: real suites, a real serving core, exit codes 0/1/2."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlcheck.data.bank import generate
from mlcheck.data.io import write_table
from mlcheck.models.training import train_xgboost
from tests.conftest import ROOT
from tests.gate_runner import run_gate

pytestmark = pytest.mark.slow


def gate(*args, report_dir, fresh=False):
    """`mlcheck gate ARGS --report-dir REPORT_DIR` from the repository (see `run_gate`)."""
    return run_gate([*args, "--report-dir", report_dir, "--", "-p", "no:locust"], fresh=fresh)


def verdict(report_dir):
    return json.loads((report_dir / "gate.json").read_text())


def test_demo_gate_passes_with_no_configuration(tmp_path):
    run = gate("--stack", "off", report_dir=tmp_path, fresh=True)  # as a user runs it
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    data = verdict(tmp_path)
    assert data["verdict"] == "PASS"
    names = {g["name"] for g in data["gates"]}
    expected = {
        "quality.accuracy",
        "quality.roc_auc",
        "quality.slice.job",
        "serving.parity",
        "serving.mlflow_parity",
        "schema.inputs",
        "data_quality.missing",
        "drift.age",
        "drift.dataset",
        "drift.prediction",
        "latency.predict.single",
        "latency.http.p95",
        "load.p95",
        "load.metrics_count",
    }
    assert expected <= names
    by_name = {g["name"]: g for g in data["gates"]}
    assert by_name["quality.accuracy"]["details"]["interval"] == "bootstrap"  # 20k < 100k rows
    timings = data["context"]["timings"]  # where the run's time went
    assert {"model", "current", "scores"} <= timings["inputs"].keys()
    timed = {gate for test in timings["tests"] for gate in test["gates"]}
    assert expected <= timed and all(test["seconds"] >= 0 for test in timings["tests"])
    for report in (
        "report.html",
        "junit.xml",
        "index.html",
        "summary.md",
        "drift.html",
        "load.html",
    ):
        assert (tmp_path / report).is_file(), report


#: The runs of this file that time nothing (no latency or load gate runs in them) are made
#: `WORKERS` at a time by `quiet_runs`; the full gates above and below time, and run alone.
WORKERS = 2


def _run(command, cwd=ROOT, timeout=600):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _shuffled(folder):
    train = generate(5000, seed=21)
    train["y"] = train["y"].sample(frac=1.0, random_state=0).to_numpy()
    model = train_xgboost(train, folder / "shuffled", rounds=30)
    current = write_table(generate(5000, seed=22), folder / "current.parquet")
    return gate(
        "suites/model_quality",
        "--model",
        str(model),
        "--current",
        str(current),
        report_dir=folder / "r",
    )


def _bad_policy(folder):
    policy = folder / "gates.toml"
    policy.write_text("[quality.min]\naccuracy = 2\n")
    return gate("--policy", str(policy), report_dir=folder / "a")


def _empty_suite(folder):
    empty = folder / "empty_suite"
    empty.mkdir()
    return gate(str(empty), report_dir=folder / "b")


def _scenario_file(tmp_path, scenario):
    from mlcheck.data.scenarios import apply_scenario

    frame = apply_scenario(generate(20_000, seed=2), scenario, 1.0)
    return write_table(frame, tmp_path / f"{scenario}.parquet")


def _drifted(folder, fresh=False):
    current = _scenario_file(folder, "covariate_shift")
    return gate("suites/drift", "--current", str(current), report_dir=folder / "r", fresh=fresh)


def _broken_schema(folder):
    current = _scenario_file(folder, "schema_break")
    return gate("suites/schema", "suites/drift", "--current", str(current), report_dir=folder / "r")


def _drift_alone(folder):
    reference = generate(3000, 1).drop(columns=["y"]).rename(columns={"age": "client_age"})
    current = generate(3000, 2).drop(columns=["y"]).rename(columns={"age": "client_age"})
    current["client_age"] = current["client_age"] + 15
    write_table(reference, folder / "ref.csv")
    write_table(current, folder / "cur.csv")
    return gate(
        "suites/drift",
        "--reference",
        str(folder / "ref.csv"),
        "--current",
        str(folder / "cur.csv"),
        "--stack",
        "off",
        report_dir=folder / "reports",
    )


def _own_suites(folder):
    """The three runs from an empty folder, each with the gate.json it left (one report dir)."""
    (folder / "gates").mkdir()
    (folder / "gates" / "test_own.py").write_text(
        "from mlcheck.results import Comparison, GateResult\n\n"
        "def test_rows(mlcheck_current, record_gates):\n"
        "    record_gates(GateResult.judged('own.rows', 'rows', float(len(mlcheck_current)),"
        " 30_000.0, Comparison.GE))\n"
    )
    policy = (
        (ROOT / "checks" / "gates.toml")
        .read_text()
        .replace('file = "schema.py"', f'file = "{ROOT / "checks" / "schema.py"}"')
    )
    (folder / "gates.toml").write_text(policy + '\n[suites]\nextra = ["gates"]\n')
    command = [sys.executable, "-m", "mlcheck", "gate", "--policy", "gates.toml", "--stack", "off"]
    extra = _run([*command, "--suites", "extra"], cwd=folder)
    after_extra = verdict(folder / "reports") if (folder / "reports/gate.json").exists() else None
    both = _run([*command, "--suites", "all", "--", "-k", "schema or own"], cwd=folder)
    after_both = verdict(folder / "reports") if (folder / "reports/gate.json").exists() else None
    missing = _run([*command, "--suites", "builtin", "nope/"], cwd=folder, timeout=None)
    return extra, after_extra, both, after_both, missing


@pytest.fixture(scope="module")
def quiet_runs(tmp_path_factory):
    """name -> (the finished run, its folder) of each case below, made `WORKERS` at a time
    before any test of them asserts (no full gate runs beside them)."""
    from mlcheck.models.demo import demo_data_path, demo_model_path

    demo_model_path()  # the demo's cache made once, before the runs that read it
    for kind in ("reference", "current"):
        demo_data_path(kind)
    cases = {
        "shuffled": _shuffled,
        "missing": lambda folder: gate("--current", str(folder / "nope.csv"), report_dir=folder),
        "bad_policy": _bad_policy,
        "empty_suite": _empty_suite,
        "usage_suite": lambda folder: _run(
            [sys.executable, "-m", "mlcheck", "gate", "suites/nope"]
        ),
        "usage_data": lambda folder: _run(
            [sys.executable, "-m", "mlcheck", "data", "--rows", "0", "--out", "x.csv"]
        ),
        "help": lambda folder: _run([sys.executable, "-m", "mlcheck", "--help"], cwd=None),
        "gate_help": lambda folder: _run(
            [sys.executable, "-m", "mlcheck", "gate", "--help"], cwd=None
        ),
        "drifted": _drifted,
        "drifted_fresh": lambda folder: _drifted(folder, fresh=True),
        "broken_schema": _broken_schema,
        "drift_alone": _drift_alone,
        "own_suites": _own_suites,
    }
    pool = ThreadPoolExecutor(WORKERS)
    try:
        futures = {}
        for name, case in cases.items():
            folder = tmp_path_factory.mktemp(name)
            futures[name] = (pool.submit(case, folder), folder)
        return {name: (future.result(), folder) for name, (future, folder) in futures.items()}
    finally:  # an interrupted session waits for the two runs under way, not the queued ones
        pool.shutdown(cancel_futures=True)


def test_shuffled_label_model_is_blocked(quiet_runs):
    run, folder = quiet_runs["shuffled"]
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "quality.roc_auc: roc_auc=0." in run.stdout and ">= 0.8500 FAIL" in run.stdout
    failed = {g["name"]: g for g in verdict(folder / "r")["gates"] if g["outcome"] == "FAIL"}
    assert {"quality.accuracy", "quality.roc_auc"} <= set(failed)
    assert failed["quality.roc_auc"]["interval"][1] < 0.85


def test_missing_data_file_cannot_decide(quiet_runs):
    run, folder = quiet_runs["missing"]
    missing = folder / "nope.csv"
    assert run.returncode == 2, run.stdout[-3000:]
    assert f"--current='{missing}' does not exist" in run.stdout
    data = verdict(folder)
    assert data["verdict"] == "ERROR"
    # every gate that needs the data could not decide; only the stack's MLflow check may pass
    # (the comparison says it has no champion, the baseline gate that it is for regressors)
    outcomes = {g["name"]: g["outcome"] for g in data["gates"]}
    undecided = {"stack.mlflow", "compare.champion", "quality.baseline"}
    assert {n for n, o in outcomes.items() if o != "ERROR"} <= undecided
    assert outcomes["quality.baseline"] == "SKIP"
    assert outcomes["quality.accuracy"] == outcomes["stack.prometheus"] == "ERROR"


def test_sklearn_model_on_other_data_runs_by_configuration(tmp_path, sklearn_model_dir, other_data):
    reference, current = other_data
    policy = tmp_path / "gates.toml"
    policy.write_text(
        '[data]\ntarget = "label"\n[quality.min]\naccuracy = 0.75\nroc_auc = 0.80\n'
        "[quality.max]\nlog_loss = 0.6\n[load]\nrun_time_s = 5\n"
        '[quality.slices]\ncolumns = ["colour"]\nmin_size = 100\nmax_gap = 0.1\n'
        # a pipeline's limits: the defaults fit the demo's bare XGBoost, and this model's
        # single-row p95 reached 91 ms on a busy 2-core machine
        "[latency]\nsingle_p95_ms = 500\nbatch_p95_ms = 2000\n"
    )
    args = [
        "--model",
        str(sklearn_model_dir),
        "--policy",
        str(policy),
        "--reference",
        str(write_table(reference, tmp_path / "ref.csv")),
        "--current",
        str(write_table(current, tmp_path / "cur.csv")),
        "--stack",
        "off",  # the stack's gates have their own tests (test_stack_e2e.py)
    ]
    run = gate(*args, report_dir=tmp_path / "r")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    names = {g["name"]: g["outcome"] for g in verdict(tmp_path / "r")["gates"]}
    assert names["quality.slice.colour"] == "PASS" and names["serving.parity"] == "PASS"
    assert names["drift.colour"] == "PASS" and names["schema.inputs"] == "PASS"
    assert (tmp_path / "r" / "schema.yaml").is_file()  # inferred: the policy names no schema


def test_bad_policy_and_empty_suite_cannot_decide(quiet_runs):
    run, folder = quiet_runs["bad_policy"]
    assert run.returncode == 2
    assert "quality.min.accuracy=2 is out of range" in run.stderr
    assert verdict(folder / "a")["verdict"] == "ERROR"
    run, folder = quiet_runs["empty_suite"]
    assert run.returncode == 2 and "no tests were collected" in run.stderr


def test_usage_errors_exit_2(quiet_runs):
    run, _ = quiet_runs["usage_suite"]
    assert run.returncode == 2 and "SUITE='suites/nope' does not exist" in run.stderr
    run, _ = quiet_runs["usage_data"]
    assert run.returncode == 2 and "expected a number >= 1" in run.stderr


def test_help_lists_commands_and_exit_codes(quiet_runs):
    run, _ = quiet_runs["help"]
    assert run.returncode == 0, run.stderr
    for word in (
        "data",
        "train",
        "serve",
        "gate",
        "Exit codes: 0 pass, 1 a gate failed (blocked), 2 could not decide.",
    ):
        assert word in run.stdout
    run, _ = quiet_runs["gate_help"]
    assert run.returncode == 0, run.stderr
    for option in (
        "--model URI",
        "--reference PATH",
        "--current PATH",
        "--target COLUMN",
        "--policy PATH",
        "--report-dir DIR",
    ):
        assert option in run.stdout


def test_drifted_data_is_blocked_with_the_column_method_and_threshold(quiet_runs):
    run, _ = quiet_runs["drifted"]
    assert run.returncode == 1, run.stdout[-3000:]
    assert "drift.duration: wasserstein=" in run.stdout and "< 0.1000 FAIL" in run.stdout
    assert "drift.age: psi=" in run.stdout and "< 0.3000 FAIL" in run.stdout


def test_a_forked_gate_run_decides_as_a_fresh_one(quiet_runs):
    """The tests' gate runs are forked from a warm process (`tests/gate_runner.py`): the same
    run as a new `python -m mlcheck gate` gives the same exit code, gates and terminal table."""
    (forked, forked_dir), (fresh, fresh_dir) = quiet_runs["drifted"], quiet_runs["drifted_fresh"]
    assert forked.returncode == fresh.returncode == 1, fresh.stdout[-3000:] + fresh.stderr[-3000:]

    def decided(folder):
        keys = ("outcome", "value", "interval", "threshold", "reason")
        return {g["name"]: [g.get(k) for k in keys] for g in verdict(folder / "r")["gates"]}

    def table(run):
        return [line for line in run.stdout.splitlines() if line.startswith(" drift.")]

    assert decided(forked_dir) == decided(fresh_dir)
    assert table(fresh) and table(forked) == table(fresh)


def test_a_broken_schema_fails_the_schema_gate_and_drift_cannot_decide(quiet_runs):
    run, folder = quiet_runs["broken_schema"]
    assert run.returncode == 2, run.stdout[-3000:]
    gates = {g["name"]: g for g in verdict(folder / "r")["gates"]}
    assert gates["schema.inputs"]["outcome"] == "FAIL"
    assert gates["schema.inputs"]["reason"].startswith("duration: column is missing")
    assert gates["drift.duration"]["outcome"] == "ERROR"
    assert "'duration' is missing from the current data" in gates["drift.duration"]["reason"]
    assert "ERROR" in (folder / "r" / "index.html").read_text()


def test_drift_on_data_alone_runs_on_the_data_columns(quiet_runs):
    """No model: the data's own columns are compared; prediction drift says why it is skipped."""
    run, folder = quiet_runs["drift_alone"]
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    gates = {g["name"]: g for g in verdict(folder / "reports")["gates"]}
    assert gates["drift.client_age"]["outcome"] == "FAIL"
    assert gates["drift.job"]["outcome"] == "PASS"
    assert gates["drift.prediction"]["outcome"] == "SKIP"
    assert "no --model" in gates["drift.prediction"]["reason"]
    assert verdict(folder / "reports")["context"]["model"].startswith("none")


def test_gate_runs_its_own_suites_and_the_policys_extra_ones_from_any_folder(quiet_runs):
    """From an empty folder: mlcheck's suites are found through the package, and a user's own
    gate file named by the policy runs beside them, its result in gate.json."""
    (extra, after_extra, both, after_both, missing), _ = quiet_runs["own_suites"]
    assert extra.returncode == 1, extra.stdout[-3000:] + extra.stderr[-3000:]
    gates = {g["name"]: g for g in after_extra["gates"]}
    assert set(gates) == {"own.rows"} and gates["own.rows"]["value"] == 20_000
    assert both.returncode == 1, both.stdout[-3000:] + both.stderr[-3000:]
    names = {g["name"] for g in after_both["gates"]}
    assert {"own.rows", "schema.inputs", "data_quality.missing"} <= names
    assert missing.returncode == 2 and "SUITE='nope/' does not exist" in missing.stderr
