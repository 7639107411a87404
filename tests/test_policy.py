import tomllib

import pytest

from mlcheck.errors import ConfigError
from mlcheck.policy import Policy, load_policy, parse_policy
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
        ("[drfit]\nx = 1", r"drfit is not a known key"),
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


def test_slices_can_be_disabled():
    policy = parse_policy(tomllib.loads("[quality.slices]\nenabled = false"))
    assert policy.quality.slices is None


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
