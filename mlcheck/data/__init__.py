"""Demo data and table loading."""

from mlcheck.data.bank import BANK_FEATURES, GENERATOR_VERSION, TARGET, generate
from mlcheck.data.io import read_table, write_table

__all__ = ["BANK_FEATURES", "GENERATOR_VERSION", "TARGET", "generate", "read_table", "write_table"]
