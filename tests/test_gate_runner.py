"""The tests' gate runner (`tests/gate_runner.py`) itself; its runs are checked, forked against
fresh, in tests/test_gate_cli.py."""

from __future__ import annotations

import pytest

from tests.gate_runner import run_gate


def test_preexec_fn_needs_a_fresh_run():
    """A forked run has no step before exec: a limit meant for it must not silently go unset."""
    started = []
    with pytest.raises(ValueError, match="preexec_fn needs fresh=True"):
        run_gate(["--help"], preexec_fn=lambda: started.append(1))
    assert started == []
