"""The pandera schema of the demo model's inputs (and its label).

mlcheck's schema gate validates the reference and current data with it, and the serving core
validates every request against it (`mlcheck serve --schema checks/schema.py`). Edit the
ranges and categories here; nulls are allowed, the data-quality gate bounds how many.
"""

import pandera.pandas as pa

from mlcheck.data.bank import CONTACT, EDUCATION, JOBS, MARITAL, POUTCOME, YES_NO
from mlcheck.schema import category, numeric

SCHEMA = pa.DataFrameSchema(
    {
        "age": numeric(18, 100, integer=True),
        "job": category(JOBS),
        "marital": category(MARITAL),
        "education": category(EDUCATION),
        "default": category(YES_NO),
        "balance": numeric(-100_000, 1_000_000, integer=True),
        "housing": category(YES_NO),
        "loan": category(YES_NO),
        "contact": category(CONTACT),
        "duration": numeric(0, 36_000, integer=True),  # seconds: up to ten hours
        "campaign": numeric(1, 100, integer=True),
        "pdays": numeric(-1, 1_000, integer=True),
        "previous": numeric(0, 300, integer=True),
        "poutcome": category(POUTCOME),
        "y": pa.Column(checks=[pa.Check.isin([0, 1])], nullable=False, required=False),
    },
    name="bank-marketing inputs",
)
