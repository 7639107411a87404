import subprocess
import sys

import mlcheck
from mlcheck import results


def test_import_does_not_import_pytest():
    modules = (
        "mlcheck, mlcheck.models.load, mlcheck.cli, mlcheck.gates.quality, mlcheck.serving.app"
    )
    code = f"import sys, {modules}; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_public_names_match_all():
    assert sorted(mlcheck.__all__) == sorted(mlcheck._HOME_OF)
    for name in mlcheck.__all__:  # imported on first use
        getattr(mlcheck, name)
    public = {name for name in vars(mlcheck) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(mlcheck, name)).__name__ == "module"}
    assert set(mlcheck.__all__) == public - modules
    assert "GateResult" in mlcheck.__all__ and results.GateResult is mlcheck.GateResult


def test_the_gate_process_does_not_import_pandas():
    """`mlcheck gate` parses its options and runs pytest in a child: its own process (the
    command line, the run's spec that names the suites, the ERROR reports it may write) needs
    no pandas (nor numpy), which would add about 0.4 s to every run."""
    modules = "mlcheck.cli, mlcheck.commands.gate, mlcheck.run.spec, mlcheck.reports"
    code = f"import sys, {modules}; print([m for m in ('pandas', 'numpy') if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_data_packages_names_load_on_first_use():
    import mlcheck.data
    from mlcheck.data import bank, io

    for name in mlcheck.data.__all__:
        assert getattr(mlcheck.data, name) is getattr(bank if hasattr(bank, name) else io, name)
