"""Drift statistics against Evidently 0.7 as the oracle, plus the error and edge cases.

Two oracles: Evidently's `DataDriftPreset` run end to end on bank-like frames (method, drift
score, per-column test verdict, dataset verdict), and Evidently's legacy stattest functions
called directly, which is fast enough for property tests on random data.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mlcheck.data.bank import generate
from mlcheck.errors import ConfigError, DataError
from mlcheck.policy import ColumnDriftRule
from mlcheck.stats import drift as drift_stats
from mlcheck.stats.catalogue import METHODS
from mlcheck.stats.drift import (
    ColumnDrift,
    column_drift,
    dataset_drift,
    default_method,
    frame_drift,
)

NUMERIC = ["age", "balance", "duration", "campaign", "pdays", "previous"]
CATEGORICAL = ["job", "marital", "education", "default", "housing", "loan", "contact", "poutcome"]
KINDS = {**dict.fromkeys(NUMERIC, "numeric"), **dict.fromkeys(CATEGORICAL, "categorical")}
TOLERANCE = 1e-6

# Importing Evidently's report machinery warns about numpy.core and litestar deprecations.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# --------------------------------------------------------------------------- oracles


def evidently_report(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: dict[str, str], **preset
) -> tuple[dict[str, tuple[str, float, float, bool]], tuple[float, bool]]:
    """Per column (method, drift score, threshold, drifted) and (drifted share, dataset drift)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "numeric"],
        categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset(**preset)], include_tests=True).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
    result = snapshot.dict()
    failed = {t["metric_config"]["metric_id"]: t["status"] == "FAIL" for t in result["tests"]}
    by_label = {spec.display_name: name for name, spec in METHODS.items()}
    columns, dataset = {}, (float("nan"), False)
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method = by_label.get(config["method"], config["method"])
            columns[config["column"]] = (
                method,
                float(metric["value"]),
                float(config["threshold"]),
                failed[metric["id"]],
            )
        else:  # DriftedColumnsCount, whose test fails when the share reaches drift_share
            dataset = (float(metric["value"]["share"]), failed[metric["id"]])
    return columns, dataset


def legacy(
    reference: pd.Series,
    current: pd.Series,
    kind: str,
    method: str | None = None,
    threshold: float | None = None,
) -> tuple[str, float, bool]:
    """Evidently's stattest on one column, cleaned as `get_one_column_drift` cleans it."""
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas, on object columns
        ref = reference.replace([-np.inf, np.inf], np.nan).dropna()
        cur = current.replace([-np.inf, np.inf], np.nan).dropna()
    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    if method in ("chisquare", "z"):
        # Evidently registers these for categorical columns only (it reaches them for numeric
        # columns through its default choice); their computation ignores the column type.
        column_type = ColumnType.Categorical
    test = get_stattest(ref, cur, column_type, method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = test(ref, cur, column_type, threshold)
    return test.name, float(result.drift_score), bool(result.drifted)


def assert_matches(ours: ColumnDrift, method: str, score: float, drifted: bool) -> None:
    assert ours.method == method, ours
    assert ours.statistic == pytest.approx(score, rel=TOLERANCE, abs=TOLERANCE, nan_ok=True), ours
    assert ours.drifted == drifted, ours


# --------------------------------------------------------------------------- bank frames


@functools.cache
def bank(rows: int, seed: int) -> pd.DataFrame:
    return generate(rows, seed)[list(KINDS)]


@functools.cache
def perturbed(rows: int) -> pd.DataFrame:
    """Current data that drifts: longer calls, more students, some nulls, other dtypes."""
    frame = bank(rows, 2).copy()
    rng = np.random.default_rng(7)
    frame["duration"] = frame["duration"] * 1.3
    job = frame["job"].to_numpy(dtype=object)
    job[rng.random(rows) < 0.2] = "student"
    frame["job"] = pd.Categorical(job, categories=frame["job"].cat.categories)
    contact = frame["contact"].to_numpy(dtype=object)
    contact[rng.random(rows) < 0.3] = "cellular"
    frame["contact"] = contact  # object dtype
    frame["education"] = frame["education"].astype("string")
    balance = frame["balance"].astype(float)
    balance[rng.random(rows) < 0.05] = np.nan
    frame["balance"] = balance
    return frame


def current_frame(rows: int, variant: str) -> pd.DataFrame:
    return bank(rows, 2) if variant == "plain" else perturbed(rows)


@pytest.mark.parametrize("rows", [1000, 10_000])
@pytest.mark.parametrize("variant", ["plain", "perturbed"])
def test_default_preset_matches_evidently(rows, variant):
    reference, current = bank(rows, 1), current_frame(rows, variant)
    theirs, (their_share, their_dataset) = evidently_report(reference, current, KINDS)
    ours = frame_drift(reference, current, KINDS)
    assert [d.column for d in ours] == list(KINDS)
    deviations = 0
    for drift in ours:
        method, score, threshold, drifted = theirs[drift.column]
        assert drift.threshold == threshold
        if drift.method == "chi2_two_sample":
            # the one deliberate change: where Evidently picks its goodness-of-fit chi-square,
            # the two-sample test of homogeneity (scipy's, on the same counts)
            assert method == "chisquare"
            table = pd.crosstab(
                np.r_[np.zeros(drift.reference_rows), np.ones(drift.current_rows)],
                np.r_[
                    reference[drift.column].dropna().astype(str),
                    current[drift.column].dropna().astype(str),
                ],
            )
            expected = stats.chi2_contingency(table.to_numpy(), correction=False).pvalue
            assert drift.statistic == pytest.approx(expected, rel=1e-9)
            deviations += drift.drifted != drifted
            continue
        assert_matches(drift, method, score, drifted)
    share, dataset = dataset_drift(ours)
    if not deviations:
        assert share == pytest.approx(their_share) and dataset == their_dataset
    families = {d.method for d in ours}
    small = {"ks", "chi2_two_sample", "z"}
    assert families <= small if rows == 1000 else families <= {"wasserstein", "jensenshannon"}
    if variant == "perturbed":
        by_column = {d.column: d for d in ours}
        assert by_column["duration"].drifted and by_column["job"].drifted
        assert by_column["balance"].current_rows < rows  # the nulls were dropped


# Evidently accepts chi-square and Z only for categorical columns when they are asked for.
NUMERIC_METHODS = ["psi", "kl_div", "jensenshannon", "ks", "wasserstein"]
CATEGORICAL_METHODS = ["psi", "kl_div", "jensenshannon", "chisquare", "z"]


@pytest.mark.parametrize("rows", [1000, 10_000])
@pytest.mark.parametrize("rotation", [0, 1, 2])
def test_overridden_methods_match_evidently(rows, rotation):
    """Every method on several columns per run; the third run also overrides thresholds."""
    methods = {
        **{c: NUMERIC_METHODS[(i + rotation) % 5] for i, c in enumerate(NUMERIC)},
        **{c: CATEGORICAL_METHODS[(i + rotation) % 5] for i, c in enumerate(CATEGORICAL)},
    }
    thresholds = {c: (0.01 if i % 2 else 0.2) for i, c in enumerate(KINDS)} if rotation == 2 else {}
    reference, current = bank(rows, 1), perturbed(rows)
    theirs, _ = evidently_report(
        reference,
        current,
        KINDS,
        per_column_method=methods,
        per_column_threshold=thresholds or None,
    )
    rules = {c: ColumnDriftRule(methods[c], thresholds.get(c)) for c in KINDS}
    for drift in frame_drift(reference, current, KINDS, rules):
        method, score, threshold, drifted = theirs[drift.column]
        assert_matches(drift, method, score, drifted)
        assert drift.threshold == threshold


def test_discrete_numeric_columns_and_nulls_match_evidently():
    """Numeric columns with <= 5 values get chi-square or Z; nulls and +-inf are dropped."""
    rng = np.random.default_rng(5)

    def frame(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1.0, n)
        x[rng.random(n) < 0.05] = np.nan
        x[rng.random(n) < 0.01] = np.inf
        colour = rng.choice(np.array(["red", "green", "blue", None], dtype=object), n)
        return pd.DataFrame(
            {
                "children": rng.integers(0, 4, n) + (rng.random(n) < shift / 3),
                "flag": (rng.random(n) < 0.3 + shift / 10).astype(float),
                "x": x,
                "colour": colour,
            }
        )

    kinds = {"children": "numeric", "flag": "numeric", "x": "numeric", "colour": "categorical"}
    reference, current = frame(600, 0.0), frame(500, 0.4)
    theirs, _ = evidently_report(reference, current, kinds)
    ours = {d.column: d for d in frame_drift(reference, current, kinds)}
    for column, (method, score, _, drifted) in theirs.items():
        drift = ours[column]
        if drift.method == "chi2_two_sample":  # ours by default; Evidently's when asked for
            assert method == "chisquare"
            drift = column_drift(reference[column], current[column], kinds[column], "chisquare")
        assert_matches(drift, method, score, drifted)
    assert ours["children"].method == "chi2_two_sample" and ours["flag"].method == "z"
    assert ours["x"].reference_rows == reference["x"].replace(np.inf, np.nan).count()
    assert ours["colour"].current_rows == current["colour"].count()


# --------------------------------------------------------------------------- legacy oracle


def numbers(draw, n: int, style: str) -> pd.Series:
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    shift = draw(st.sampled_from([0.0, 0.2, 1.0]))
    if style == "integers":  # counted with bincount
        return pd.Series(rng.poisson(4 + 3 * shift, n))
    if style == "wide integers":  # too wide a range for bincount: sorted
        return pd.Series(rng.integers(-(10**9), 10**9, n) // (1 + int(10 * shift)))
    if style == "few":
        return pd.Series(rng.integers(0, draw(st.integers(1, 6)), n).astype(float))
    values = rng.normal(shift, 1.0, n)
    if style == "rounded":
        values = np.round(values, 1)
    return pd.Series(values)


@st.composite
def numeric_pairs(draw):
    style = draw(st.sampled_from(["integers", "wide integers", "few", "floats", "rounded"]))
    other = draw(st.sampled_from([style, "floats"]))
    n, m = draw(st.integers(1, 400)), draw(st.integers(1, 400))
    return numbers(draw, n, style), numbers(draw, m, other)


#: Every method but mlcheck's own two-sample chi-square, which Evidently does not have.
EVIDENTLY_METHODS = [m for m in METHODS if m != "chi2_two_sample"]


@settings(max_examples=60, deadline=None)
@given(pair=numeric_pairs(), method=st.sampled_from(EVIDENTLY_METHODS))
def test_numeric_methods_match_legacy_stattests(pair, method):
    reference, current = pair
    ours = column_drift(reference, current, "numeric", method)
    name, score, drifted = legacy(reference, current, "numeric", method)
    assert_matches(ours, name, score, drifted)


@st.composite
def category_pairs(draw):
    alphabet = draw(st.sampled_from([list("ab"), list("abc"), list("abcdefgh"), [1, 2, 3, 7]]))
    n, m = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    ref = draw(st.lists(st.sampled_from(alphabet), min_size=n, max_size=n))
    cur = draw(st.lists(st.sampled_from(alphabet), min_size=m, max_size=m))
    dtype = draw(st.sampled_from(["object", "category"]))
    return pd.Series(ref, dtype=dtype), pd.Series(cur, dtype=dtype)


@settings(max_examples=60, deadline=None)
@given(
    pair=category_pairs(),
    method=st.sampled_from(
        [m for m in EVIDENTLY_METHODS if "categorical" in METHODS[m].kinds] + [None]
    ),
)
def test_categorical_methods_match_legacy_stattests(pair, method):
    reference, current = pair
    ours = column_drift(reference, current, "categorical", method)
    if ours.method == "chi2_two_sample":  # ours by default where Evidently picks chisquare
        ours = column_drift(reference, current, "categorical", "chisquare")
    name, score, drifted = legacy(reference, current, "categorical", method)
    assert_matches(ours, name, score, drifted)


@settings(max_examples=60, deadline=None)
@given(pair=category_pairs())
def test_two_sample_chi_square_is_scipys_test_of_homogeneity(pair):
    reference, current = pair
    ours = column_drift(reference, current, "categorical", "chi2_two_sample")
    table = pd.crosstab(
        np.r_[np.zeros(len(reference)), np.ones(len(current))],
        np.r_[reference.astype(str), current.astype(str)],
    ).to_numpy()
    expected = 1.0 if table.shape[1] < 2 else stats.chi2_contingency(table, correction=False).pvalue
    assert ours.statistic == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert ours.drifted == (ours.statistic < 0.05)


@pytest.mark.parametrize("method", EVIDENTLY_METHODS)
def test_large_samples_match_legacy_stattests(method):
    """Above 10,000 rows KS uses scipy's asymptotic p-value; floats go the sorted path."""
    rng = np.random.default_rng(11)
    reference = pd.Series(rng.normal(0.0, 1.0, 20_000))
    current = pd.Series(rng.normal(0.02, 1.1, 15_000))
    ours = column_drift(reference, current, "numeric", method)
    assert_matches(ours, *legacy(reference, current, "numeric", method))
    ints = column_drift(
        reference.round().astype(int), current.round().astype(int), "numeric", method
    )
    name, score, drifted = legacy(
        reference.round().astype(int), current.round().astype(int), "numeric", method
    )
    assert_matches(ints, name, score, drifted)


@pytest.mark.parametrize(
    "values",
    [
        np.arange(50),
        np.arange(21),  # at 10**6 rows numpy rounds the integer bin width up to 1
        np.array([0, 1, 2, 3, 1000]),
        np.array([-7, 3, 11]),
        np.linspace(-3.3, 9.1, 77),
        np.array([0.1, 0.10000001, 5.5]),
        np.array([1e-9, 2e-9, 3e-9]),
    ],
)
@pytest.mark.parametrize("size", [3, 21, 999, 10**6])
def test_sturges_edges_are_numpys(values, size):
    data = np.resize(values, max(size, len(values)))
    expected = np.histogram_bin_edges(data, bins="sturges")
    got = drift_stats._sturges_edges(
        data.min(), data.max(), len(data), np.issubdtype(data.dtype, np.integer)
    )
    np.testing.assert_array_equal(got, expected)


def test_integer_bins_at_least_one_wide_match_legacy_stattests():
    """21 integer values over 600k rows: numpy's Sturges width (20/20.2) is rounded up to 1."""
    rng = np.random.default_rng(8)
    reference = pd.Series(rng.integers(0, 21, 300_000))
    current = pd.Series(np.minimum(rng.integers(0, 22, 300_000), 20))
    for method in ("psi", "kl_div", "jensenshannon"):
        ours = column_drift(reference, current, "numeric", method)
        assert_matches(ours, *legacy(reference, current, "numeric", method))
        mixed = column_drift(reference, current.astype(float), "numeric", method)
        assert_matches(mixed, *legacy(reference, current.astype(float), "numeric", method))


def test_small_integer_types_do_not_overflow():
    reference = pd.Series(np.array([-120, -50, 0, 60, 127] * 300, dtype=np.int8))
    current = pd.Series(np.array([-128, -50, 1, 60, 126] * 300, dtype=np.int8))
    for method in ("wasserstein", "ks", "psi"):
        ours = column_drift(reference, current, "numeric", method)
        wide = column_drift(reference.astype(int), current.astype(int), "numeric", method)
        assert ours.statistic == pytest.approx(wide.statistic)
        assert_matches(ours, *legacy(reference, current, "numeric", method))


# --------------------------------------------------------------------------- rules and cases


def test_default_method_follows_size_and_distinct_values():
    def pick(n_ref: int, values: int, kind: str, nulls: int = 0) -> str:
        ref = pd.Series(np.arange(n_ref) % values, dtype=float)
        ref[: min(nulls, n_ref)] = np.nan
        cur = pd.Series(np.arange(50) % values, dtype=float)
        return default_method(ref, cur, kind)

    assert pick(1000, 6, "numeric") == "ks"
    assert pick(1000, 5, "numeric") == "chi2_two_sample"
    assert pick(1000, 3, "numeric") == "chi2_two_sample"
    assert pick(1000, 2, "numeric") == "z"
    assert pick(1000, 1, "numeric") == "z"
    assert pick(1000, 30, "categorical") == "chi2_two_sample"
    assert pick(1000, 2, "categorical") == "z"
    assert pick(1001, 6, "numeric") == "wasserstein"
    assert pick(1001, 5, "numeric") == "jensenshannon"
    assert pick(1001, 30, "categorical") == "jensenshannon"
    assert pick(1010, 6, "numeric", nulls=10) == "ks"  # counted after dropping nulls
    # the distinct values of both frames count together
    assert default_method(pd.Series([1, 2, 3] * 10), pd.Series([4, 5, 6] * 10), "numeric") == "ks"


def test_verdict_comparisons_are_evidentlys():
    assert METHODS["ks"].drifted(0.05, 0.05)  # p <= threshold
    assert not METHODS["chisquare"].drifted(0.05, 0.05)  # p < threshold
    assert not METHODS["z"].drifted(0.05, 0.05)
    for name in ("wasserstein", "jensenshannon", "psi", "kl_div"):
        assert METHODS[name].drifted(0.1, 0.1)  # distance >= threshold
        assert not METHODS[name].drifted(0.0999, 0.1)
    assert not METHODS["chisquare"].drifted(float("nan"), 0.05)
    assert {n: s.default_threshold for n, s in METHODS.items()} == {
        "ks": 0.05,
        "chisquare": 0.05,
        "chi2_two_sample": 0.05,
        "z": 0.05,
        "wasserstein": 0.1,
        "jensenshannon": 0.1,
        "psi": 0.1,
        "kl_div": 0.1,
    }


def test_two_category_z_test_by_hand():
    reference = pd.Series(["no"] * 60 + ["yes"] * 40)
    current = pd.Series(["no"] * 45 + ["yes"] * 55)
    drift = column_drift(reference, current, "categorical")
    p1, p2 = 0.40, 0.55
    pooled = (40 + 55) / 200
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    assert drift.method == "z"
    assert drift.statistic == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)
    assert drift.drifted == (drift.statistic < 0.05)
    # with two values it does not matter which one sorts first
    relabelled = {"no": "z", "yes": "a"}
    swapped = column_drift(reference.map(relabelled), current.map(relabelled), "categorical")
    assert swapped.statistic == pytest.approx(drift.statistic, rel=1e-12)


def test_constant_columns():
    same = column_drift(pd.Series([3.0] * 50), pd.Series([3.0] * 80), "numeric")
    assert (same.method, same.statistic, same.drifted) == ("z", 1.0, False)
    moved = column_drift(pd.Series([3] * 50), pd.Series([4] * 80), "numeric")
    assert moved.method == "z" and moved.drifted
    assert_matches(moved, *legacy(pd.Series([3] * 50), pd.Series([4] * 80), "numeric"))
    # large constant reference: Wasserstein's norm falls back to 0.001
    reference = pd.Series(np.r_[np.full(2000, 5.0), np.arange(6.0)])
    current = pd.Series(np.r_[np.full(2000, 5.0), np.arange(6.0) + 0.5])
    assert_matches(
        column_drift(reference, current, "numeric"), *legacy(reference, current, "numeric")
    )


def test_category_dtypes_agree_and_unused_categories_are_ignored():
    rng = np.random.default_rng(2)
    ref = rng.choice(["a", "b", "c"], 3000, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "c"], 2000, p=[0.4, 0.3, 0.3])
    results = set()
    for dtype in ("object", "string", "category"):
        for method in (None, "chisquare", "psi", "kl_div"):
            drift = column_drift(
                pd.Series(ref, dtype=dtype), pd.Series(cur, dtype=dtype), "categorical", method
            )
            results.add((dtype, method, round(drift.statistic, 12)))
    assert len({(m, s) for _, m, s in results}) == 4
    mixed = column_drift(pd.Series(ref, dtype="category"), pd.Series(cur), "categorical")
    assert mixed.statistic == pytest.approx(
        column_drift(pd.Series(ref), pd.Series(cur), "categorical").statistic
    )
    padded = pd.CategoricalDtype(["a", "b", "c", "never"])
    padded_drift = column_drift(
        pd.Series(ref, dtype=padded), pd.Series(cur, dtype=padded), "categorical", "chisquare"
    )
    plain = column_drift(pd.Series(ref), pd.Series(cur), "categorical", "chisquare")
    assert padded_drift.statistic == pytest.approx(plain.statistic)


def test_value_only_in_current_matches_evidently():
    reference = pd.Series(list("aab") * 20)
    current = pd.Series(list("abc") * 20)
    for method in ("chisquare", "psi", "kl_div", "jensenshannon", "z"):
        ours = column_drift(reference, current, "categorical", method)
        assert_matches(ours, *legacy(reference, current, "categorical", method))


def test_nullable_and_float_inputs_and_frames_untouched():
    rng = np.random.default_rng(4)
    values = rng.normal(size=3000)
    reference = pd.Series(values.copy())
    current = pd.Series(pd.array(np.round(rng.normal(0.1, 1, 2500) * 10), dtype="Int64"))
    current[:100] = pd.NA
    drift = column_drift(reference, current, "numeric")
    assert drift.current_rows == 2400 and drift.reference_rows == 3000
    assert_matches(drift, *legacy(reference, current.astype(float), "numeric"))
    np.testing.assert_array_equal(reference.to_numpy(), values)  # sorting used a copy


# --------------------------------------------------------------------------- errors


def test_unknown_method_names_the_column_and_the_known_methods():
    with pytest.raises(ConfigError) as info:
        column_drift(
            pd.Series([1, 2], name="age"), pd.Series([1, 2], name="age"), "numeric", "psi2"
        )
    message = str(info.value)
    assert "'age'" in message and "psi2" in message
    assert "ks, chisquare, z, chi2_two_sample, wasserstein, jensenshannon, psi, kl_div" in message


def test_configuration_errors():
    ref = pd.DataFrame({"age": [1, 2, 3], "job": ["a", "b", "a"]})
    with pytest.raises(ConfigError, match=r"'job'.*'ks' does not apply to categorical.*chisquare"):
        frame_drift(ref, ref, {"job": "categorical"}, {"job": ColumnDriftRule("ks")})
    with pytest.raises(ConfigError, match=r"'age'.*kind='number'.*'numeric' or 'categorical'"):
        frame_drift(ref, ref, {"age": "number"})
    with pytest.raises(ConfigError, match=r"'salary'.*rule.*not among"):
        frame_drift(ref, ref, {"age": "numeric"}, {"salary": ColumnDriftRule("psi")})
    with pytest.raises(ConfigError, match=r"'age'.*threshold=-1"):
        column_drift(ref["age"], ref["age"], "numeric", threshold=-1.0)
    with pytest.raises(ConfigError, match="share"):
        dataset_drift([column_drift(ref["age"], ref["age"], "numeric")], share=1.5)


def test_data_errors():
    ref = pd.DataFrame({"age": [1.0, 2.0, 3.0], "job": ["a", "b", "a"]})
    empty = pd.DataFrame({"age": [np.nan, np.inf, None], "job": [None, None, np.nan]})
    with pytest.raises(DataError, match=r"'income'.*missing from the current data"):
        frame_drift(ref.assign(income=1.0), ref, {"income": "numeric"})
    with pytest.raises(DataError, match=r"'income'.*missing from the reference data"):
        frame_drift(ref, ref.assign(income=1.0), {"income": "numeric"})
    with pytest.raises(DataError, match=r"'age'.*current data has no non-null values"):
        frame_drift(ref, empty, {"age": "numeric"})
    with pytest.raises(DataError, match=r"'job'.*reference data has no non-null values"):
        frame_drift(empty, ref, {"job": "categorical"})
    with pytest.raises(DataError, match=r"'job'.*declared numeric.*declare it categorical"):
        frame_drift(ref, ref, {"job": "numeric"})
    with pytest.raises(DataError, match="no column"):
        dataset_drift([])


# --------------------------------------------------------------------------- frame level


def test_dataset_drift_reaches_share_inclusively():
    def drift(drifted: bool) -> ColumnDrift:
        return ColumnDrift("c", "numeric", "ks", 0.5, 0.05, drifted, 10, 10)

    assert dataset_drift([drift(True), drift(False)]) == (0.5, True)
    assert dataset_drift([drift(True), drift(False), drift(False)]) == (pytest.approx(1 / 3), False)
    assert dataset_drift([drift(False)], share=0.0) == (0.0, True)


def test_benjamini_hochberg_over_p_value_columns():
    """Two-category columns (Z-test) with p-values from about 0.001 to 0.8, plus one distance."""
    shifts = {"c75": 75, "c48": 48, "c45": 45, "c15": 15, "c5": 5}
    reference = pd.DataFrame({c: ["a"] * 500 + ["b"] * 500 for c in shifts})
    current = pd.DataFrame({c: ["a"] * (500 + k) + ["b"] * (500 - k) for c, k in shifts.items()})
    reference["big"], current["big"] = reference["c75"], current["c75"]
    kinds = dict.fromkeys(reference.columns, "categorical")
    rules = {"big": ColumnDriftRule("jensenshannon", 0.01)}
    plain = frame_drift(reference, current, kinds, rules)
    adjusted = frame_drift(reference, current, kinds, rules, fdr=True)
    tested = [d for d in plain if d.method == "z"]
    assert len(tested) == 5
    expected = stats.false_discovery_control([d.statistic for d in tested], method="bh")
    by_column = {d.column: d for d in adjusted}
    for drift, p_adjusted in zip(tested, expected, strict=True):
        fdr = by_column[drift.column]
        assert fdr.statistic == drift.statistic  # the raw p-value stays
        assert fdr.fdr_p_value == pytest.approx(p_adjusted, rel=1e-12)
        assert fdr.drifted == (p_adjusted < fdr.threshold)  # the Z-test's strict comparison
    assert by_column["big"] == plain[-1] and by_column["big"].fdr_p_value is None
    assert [d.column for d in plain if d.drifted] == ["c75", "c48", "c45", "big"]
    assert [d.column for d in adjusted if d.drifted] == ["c75", "big"]
