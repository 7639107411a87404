import numpy as np
import pandas as pd
import pytest

from mlcheck.data.bank import BANK_FEATURES, TARGET, generate
from mlcheck.data.io import read_table, write_table
from mlcheck.errors import ConfigError, DataError


def test_generator_is_deterministic_per_seed():
    pd.testing.assert_frame_equal(generate(2000, 3), generate(2000, 3))
    assert not generate(2000, 3).equals(generate(2000, 4))


def test_generator_schema_types_ranges_and_categories():
    frame = generate(50_000, 1)
    assert list(frame.columns) == [f.name for f in BANK_FEATURES] + [TARGET]
    for spec in BANK_FEATURES:
        column = frame[spec.name]
        assert column.notna().all(), spec.name
        if spec.is_categorical:
            assert tuple(column.cat.categories) == spec.categories
        else:
            assert pd.api.types.is_integer_dtype(column), spec.name
    assert frame["age"].between(18, 95).all()
    assert frame["balance"].between(-8019, 102127).all()
    assert (frame["campaign"] >= 1).all()
    assert ((frame["pdays"] == -1) == (frame["poutcome"] == "unknown")).all()
    assert ((frame["pdays"] == -1) == (frame["previous"] == 0)).all()
    assert set(frame[TARGET].unique()) == {0, 1}
    assert 0.08 < frame[TARGET].mean() < 0.15  # imbalanced like the real campaign


def test_generator_has_the_signal_a_model_learns():
    frame = generate(20_000, 2)
    long_calls = frame["duration"] > frame["duration"].quantile(0.9)
    assert frame.loc[long_calls, TARGET].mean() > 3 * frame.loc[~long_calls, TARGET].mean()
    success = frame["poutcome"] == "success"
    assert frame.loc[success, TARGET].mean() > 2.5 * frame.loc[~success, TARGET].mean()


@pytest.mark.parametrize("rows", [0, -5, 10_000_001, "100", 2.5])
def test_generator_refuses_bad_sizes(rows):
    with pytest.raises(ConfigError, match="rows="):
        generate(rows, 0)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_round_trip(tmp_path, suffix):
    frame = generate(500, 0)
    path = write_table(frame, tmp_path / f"data{suffix}")
    back = read_table(path)
    assert back.shape == frame.shape
    np.testing.assert_array_equal(back["job"].astype(str), frame["job"].astype(str))


def test_reading_bad_files_names_the_argument(tmp_path):
    with pytest.raises(DataError, match=r"--current='.*missing.csv' does not exist"):
        read_table(tmp_path / "missing.csv", "--current")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(tmp_path / "empty.csv", "--current")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="has no rows"):
        read_table(tmp_path / "header.csv", "--current")
    with pytest.raises(ConfigError, match=r"extension '.txt'.*CSV or Parquet"):
        read_table(tmp_path / "data.txt", "--reference")


def test_labels_must_be_present_and_binary():
    from mlcheck.data.labels import binary_labels

    frame = pd.DataFrame({"y": [0, 1, 2], "x": [1, 2, 3]})
    with pytest.raises(
        DataError, match=r"target='y' must hold only 0 and 1; found values such as \[2\]"
    ):
        binary_labels(frame, "y", "current data")
    with pytest.raises(DataError, match="target='label' is not a column of the current data"):
        binary_labels(frame, "label", "current data")
    assert binary_labels(frame.head(2), "y", "current data").tolist() == [0, 1]


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_csv_delimiter_is_detected(tmp_path, delimiter, name):
    frame = generate(300, 5)
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, sep=delimiter, index=False)
    back = read_table(path, "--current")
    assert list(back.columns) == list(frame.columns)
    assert back.shape == frame.shape
    np.testing.assert_array_equal(back["age"], frame["age"])


def test_semicolon_csv_with_decimal_commas_keeps_its_columns(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("x;y;label\n1,5;2,25;0\n3,5;4,75;1\n")
    back = read_table(path, "--reference")
    assert list(back.columns) == ["x", "y", "label"] and len(back) == 2


def test_a_one_column_csv_names_the_likely_cause(tmp_path):
    path = tmp_path / "colons.csv"
    path.write_text("age:job:y\n30:admin.:0\n41:technician:1\n")
    with pytest.raises(
        DataError,
        match=r"--current='.*colons.csv' has one column \('age:job:y'\); is it delimited by "
        r"something other than , ; tab or \|\?",
    ):
        read_table(path, "--current")


def test_a_truncated_parquet_file_names_the_option_when_its_footer_is_read(tmp_path):
    """The engine choice and the Dask sample read Parquet footers before any gate: a truncated
    file is a DataError naming the option, not pyarrow's traceback."""
    from mlcheck.run.options import RunOptions
    from mlcheck.run.spec import RunSpec

    whole = write_table(generate(2_000, 1), tmp_path / "whole.parquet").read_bytes()
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(whole[: len(whole) // 2])
    options = RunOptions(reference=str(tmp_path / "whole.parquet"), current=str(truncated))
    with pytest.raises(DataError, match=r"--current: .*truncated.parquet' is not a readable"):
        RunSpec(options).engine  # noqa: B018 - reading the footers is the point
