"""The model's input matrix: a categorical feature's value is its category's index when its
text (`str`, as the schema infers categories) is one of them, else NaN, whatever the column's
dtype (a pandas categorical is encoded from its categories)."""

import numpy as np
import pandas as pd
import pytest

from mlcheck.features import FeatureKind, FeatureSpec, encode_frame

CATEGORIES = ("1", "blue", "red")

COLUMNS = {
    "text": ["red", "blue", None, "green", "red"],
    "numbers": [1, 2, 1, None, 1],
    "text categories": pd.Categorical(["red", "blue", None, "green", "red"]),
    "number categories": pd.Categorical([1, 2, 1, None, 1]),
    "unknown only": pd.Categorical(["green", "green", None, "teal", "green"]),
    "no categories": pd.Categorical([None] * 5, categories=[]),
    "categories unused": pd.Categorical(["red"] * 5, categories=["red", "blue", "black"]),
}


def _as_text(column: pd.Series) -> np.ndarray:
    """Each value read as text, one by one, and looked up."""
    return np.array(
        [
            CATEGORIES.index(str(v)) if not pd.isna(v) and str(v) in CATEGORIES else np.nan
            for v in column.astype(object)
        ],
        dtype=np.float32,
    )


@pytest.mark.parametrize("name", list(COLUMNS))
def test_a_categorical_column_encodes_as_its_values_read_as_text(name):
    frame = pd.DataFrame({"colour": COLUMNS[name], "x": np.arange(5.0)})
    specs = [
        FeatureSpec("colour", FeatureKind.CATEGORICAL, CATEGORIES),
        FeatureSpec("x", FeatureKind.NUMERIC),
    ]
    matrix = encode_frame(frame, specs)
    np.testing.assert_array_equal(matrix[:, 0], _as_text(frame["colour"]))
    np.testing.assert_array_equal(matrix[:, 1], np.arange(5.0, dtype=np.float32))


def test_known_values_are_their_index_and_the_rest_nan():
    frame = pd.DataFrame({"colour": pd.Categorical(["red", "1", None, "green"])})
    spec = FeatureSpec("colour", FeatureKind.CATEGORICAL, CATEGORIES)
    np.testing.assert_array_equal(encode_frame(frame, [spec])[:, 0], [2, 0, np.nan, np.nan])
