"""Demo data and table loading.

The names below are imported on first use: `mlcheck.data.scenario_names`, which the command
line's parser reads, must not bring numpy and pandas with it.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from mlcheck.data.bank import BANK_FEATURES, GENERATOR_VERSION, TARGET, generate
    from mlcheck.data.io import read_table, write_table

__all__ = ["BANK_FEATURES", "GENERATOR_VERSION", "TARGET", "generate", "read_table", "write_table"]

_HOME_OF = {
    **dict.fromkeys(("BANK_FEATURES", "GENERATOR_VERSION", "TARGET", "generate"), "bank"),
    **dict.fromkeys(("read_table", "write_table"), "io"),
}


def __getattr__(name: str) -> _typing.Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module 'mlcheck.data' has no attribute {name!r}")
    return getattr(_importlib.import_module(f"mlcheck.data.{_HOME_OF[name]}"), name)
