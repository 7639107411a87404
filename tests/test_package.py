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
