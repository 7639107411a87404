import dataclasses
import tomllib

import pytest

from mlcheck.errors import ConfigError
from mlcheck.policy import (
    BootstrapPolicy,
    ColumnDriftRule,
    Policy,
    SlicePolicy,
    load_policy,
    parse_policy,
)
from mlcheck.results import Comparison
from tests.conftest import ROOT


def test_project_policy_loads_and_matches_the_seed_thresholds():
    policy = load_policy(ROOT / "checks" / "gates.toml")
    rules = {t.metric: t for t in policy.quality.thresholds}
    assert rules["accuracy"].threshold == 0.90 and rules["accuracy"].comparison is Comparison.GE
    assert rules["log_loss"].comparison is Comparison.LE
    assert policy.target == "y"


def test_missing_sections_use_defaults():
    assert parse_policy({}) == Policy(source="policy")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "[quality]\nbootstrap_resample = 100",
            r"quality.bootstrap_resample is not a known key.*bootstrap_resamples",
        ),
        (
            "[quality.min]\naccuracy = 1.5",
            r"quality.min.accuracy=1.5 is out of range; allowed: \[0.0, 1.0\]",
        ),
        ("[quality.min]\naccuracy = 'high'", r"quality.min.accuracy='high' must be a number"),
        (
            "[quality.min]\nlog_loss = 0.2",
            r"log_loss is lower-is-better; put its threshold under \[quality.max\]",
        ),
        (
            "[quality.max]\nauc = 0.2",
            r"quality.max.auc names an unknown metric; known: accuracy, roc_auc",
        ),
        ("[quality]\nconfidence = 1.5", r"quality.confidence=1.5 is out of range"),
        (
            "[quality]\nbootstrap_resamples = 10",
            r"bootstrap_resamples=10 is out of range; allowed: \[100, 100000\]",
        ),
        (
            "[quality.slices]\ncolumns = 'job'",
            r"quality.slices.columns='job' must be a list of column names",
        ),
        ("[quality.slices]\nmetric = 'auc'", r"quality.slices.metric='auc' is unknown"),
        (
            "[quality.slices]\nmax_gap = 2",
            r"quality.slices.max_gap=2 is out of range; allowed: \[0.0, 1.0\]",
        ),
        ("[drfit]\nx = 1", r"drfit is not a known key"),
        (
            "[data]\nlabel = 'y'",
            r"gates.toml: data.label is not a known key; known keys here: target",
        ),
        ("[data]\ntarget = ''", r"data.target='' must be a non-empty string"),
        (
            "[latency]\nhttp_concurrency = 2.5",
            r"http_concurrency=2.5 must be an integer in \[1, 256\]",
        ),
        (
            "[load]\nspawn_rate = nan",
            r"load.spawn_rate=nan is out of range; allowed: \[0.1, 10000\]",
        ),
        ("[load]\nusers = true", r"load.users=True must be an integer in \[1, 10000\]"),
        ("[stack]\nmlflow_image = ''", r"stack.mlflow_image='' must be a non-empty string"),
        ("quality = 3", r"gates.toml: \[quality\] must be a table, got 3"),
    ],
)
def test_bad_policies_name_key_value_and_fix(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_policy(tomllib.loads(text), source="gates.toml")


def test_missing_or_invalid_policy_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[quality\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_policy(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"[data]\ntarget = 'caf\xe9'\n")
    with pytest.raises(ConfigError, match=r"--policy=.*latin.toml' is not UTF-8 text"):
        load_policy(latin)


def test_slices_can_be_disabled():
    policy = parse_policy(tomllib.loads("[quality.slices]\nenabled = false"))
    assert policy.quality.slices is None
    enabled = parse_policy(tomllib.loads("[quality.slices]\nenabled = true\nmin_size = 50"))
    assert enabled.quality.slices == SlicePolicy(min_size=50)
    with pytest.raises(ConfigError, match=r"quality.slices.enabled='no' must be true or false"):
        parse_policy(tomllib.loads("[quality.slices]\nenabled = 'no'"))
    with pytest.raises(
        ConfigError,
        match=r"quality.slices.enabeld is not a known key; known keys here: enabled, columns",
    ):
        parse_policy(tomllib.loads("[quality.slices]\nenabled = false\nenabeld = true"))


def test_slice_gap_bound_follows_the_metric():
    policy = parse_policy(tomllib.loads("[quality.slices]\nmetric = 'log_loss'\nmax_gap = 2"))
    assert policy.quality.slices == SlicePolicy(metric="log_loss", max_gap=2.0)


def test_project_policy_sections_for_schema_quality_and_drift():
    policy = load_policy(ROOT / "checks" / "gates.toml")
    assert policy.schema.file == ROOT / "checks" / "schema.py"
    assert (
        policy.data_quality.max_missing_rate == 0.05
        and policy.data_quality.max_outlier_rate == 0.10
    )
    rule = policy.drift.columns["age"]
    assert (rule.method, rule.threshold, rule.warn) == ("psi", 0.3, 0.2)
    assert policy.drift.dataset_share == 0.5


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "[drift.columns.age]\nmethod = 'psi2'",
            r"drift.columns.age.method='psi2' is unknown; known: ",
        ),
        (
            "[drift.columns.age]\nthreshold = -1",
            r"drift.columns.age.threshold=-1 must be a number >= 0",
        ),
        (
            "[drift]\ncolumn_outcome = 'block'",
            r"drift.column_outcome='block' is not allowed; use one of: fail, warn",
        ),
        ("[drift]\nfdr = 'yes'", r"drift.fdr='yes' must be true or false"),
        (
            "[data_quality]\nmax_missing_rate = 5",
            r"data_quality.max_missing_rate=5 is out of range",
        ),
        ("[schema]\nfile = 3", r"schema.file=3 must be a path"),
    ],
)
def test_bad_drift_and_quality_settings(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_policy(tomllib.loads(text), source="gates.toml")


def test_drift_column_rules():
    policy = parse_policy(
        tomllib.loads("[drift.columns.age]\nmethod = 'ks'\n[drift.columns.job]\nthreshold = 0")
    )
    assert policy.drift.columns == {
        "age": ColumnDriftRule(method="ks", threshold=None, warn=None),
        "job": ColumnDriftRule(method=None, threshold=0.0, warn=None),
    }


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "[drift.columns.age]\nmethod = 'psi2'\nthreshold = -1",
            r"gates.toml: drift.columns.age.method='psi2' is unknown; known: ks, chisquare, z, "
            r"chi2_two_sample, ",
        ),
        (
            "[drift.columns.age]\nmethod = 'psi'\nthreshold = -0.5",
            r"gates.toml: drift.columns.age.threshold=-0.5 must be a number >= 0",
        ),
        (
            "[drift.columns.age]\nwarn = 'high'",
            r"drift.columns.age.warn='high' must be a number >= 0",
        ),
        (
            "[drift.columns.age]\nmetod = 'psi'",
            r"drift.columns.age.metod is not a known key; known keys here: method, threshold, warn",
        ),
        ("[drift.columns]\nage = 'psi'", r"\[drift.columns.age\] must be a table, got 'psi'"),
    ],
)
def test_bad_drift_column_rules(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_policy(tomllib.loads(text), source="gates.toml")


def test_bootstrap_policy_is_shared_by_quality_and_compare():
    policy = parse_policy(
        tomllib.loads(
            "[quality]\nbootstrap_resamples = 200\nseed = 3\n"
            "[compare]\nbootstrap_resamples = 500\nconfidence = 0.9\n"
        )
    )
    assert policy.quality.bootstrap == BootstrapPolicy(resamples=200, confidence=0.95, seed=3)
    assert policy.compare.bootstrap == BootstrapPolicy(resamples=500, confidence=0.9, seed=0)
    project = load_policy(ROOT / "checks" / "gates.toml")
    assert project.quality.bootstrap.resamples == project.compare.bootstrap.resamples == 1000


@pytest.mark.parametrize("section", ["quality", "compare"])
def test_bootstrap_bounds_are_declared_once_for_both_sections(section):
    for text, match in [
        (
            "bootstrap_resamples = 10",
            r"bootstrap_resamples=10 is out of range; allowed: \[100, 100000\]",
        ),
        ("confidence = 1.5", r"confidence=1.5 is out of range; allowed: \[0.5, 0.999\]"),
        ("seed = -1", r"seed=-1 is out of range; allowed: \[0, 4294967295\]"),
        (
            "resamples = 200",
            r"resamples is not a known key; known keys here: .*bootstrap_resamples",
        ),
    ]:
        with pytest.raises(ConfigError, match=rf"gates.toml: {section}.{match}"):
            parse_policy(tomllib.loads(f"[{section}]\n{text}"), source="gates.toml")


def test_defaults_are_declared_once_on_the_fields():
    parsed, built = parse_policy({}, source="elsewhere"), Policy()
    for field in dataclasses.fields(Policy):
        if field.name != "source":
            assert getattr(parsed, field.name) == getattr(built, field.name), field.name
    assert not hasattr(built, "raw")


def test_compare_margins():
    policy = load_policy(ROOT / "checks" / "gates.toml")
    assert dict(policy.compare.margins) == {"roc_auc": 0.01, "accuracy": 0.01, "log_loss": 0.02}
    with pytest.raises(ConfigError, match=r"compare.margin_auc: 'auc' is not a metric"):
        parse_policy(tomllib.loads("[compare]\nmargin_auc = 0.1"), source="gates.toml")
    with pytest.raises(ConfigError, match=r"compare.margin_roc_auc=2 is out of range"):
        parse_policy(tomllib.loads("[compare]\nmargin_roc_auc = 2"), source="gates.toml")


def test_image_names_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MLCHECK_PROMETHEUS_IMAGE", "prom/prometheus:v2.53.4")
    policy = load_policy(ROOT / "checks" / "gates.toml")
    assert policy.stack.prometheus_image == "prom/prometheus:v2.53.4"
    assert policy.stack.mlflow_image == "mlcheck/mlflow:local"


def test_an_infinite_threshold_is_refused():
    """A threshold of inf could never be reached: a gate that cannot block."""
    with pytest.raises(ConfigError, match=r"drift.columns.age.threshold=inf must be a finite"):
        parse_policy({"drift": {"columns": {"age": {"threshold": float("inf")}}}}, "policy")
