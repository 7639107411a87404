"""Running the serving core as a subprocess on a free loopback port (for suites and tools)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from mlcheck.errors import InfrastructureError
from mlcheck.serving.config import ServingConfig

__all__ = ["ServedModel", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServedModel:
    """`mlcheck serve` of `config` in a subprocess; `start()` returns once `/ready` answers 200."""

    config: ServingConfig
    host: str = "127.0.0.1"
    port: int = 0
    startup_timeout: float = 120.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: Path | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The serving process's pid while it runs (one worker: the process that predicts)."""
        return self._process.pid if self._process is not None else None

    def logs(self) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")

    def launch(self) -> ServedModel:
        """Start the process and return at once; `start` waits until it is ready. A run
        launches its served model early, so the server starts while the run scores."""
        self.port = self.port or free_port(self.host)
        fd, log = tempfile.mkstemp(prefix="mlcheck-serve-", suffix=".log")
        self._log = Path(log)
        command = [
            sys.executable,
            "-m",
            "mlcheck",
            "serve",
            *self.config.to_args(),
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        with os.fdopen(fd, "wb") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        return self

    def start(self) -> ServedModel:
        """Start the process (unless `launch` did) and wait until `/ready` answers 200."""
        if self._process is None:
            self.launch()
        try:
            return self._wait_ready()
        except BaseException:  # not ready, or interrupted: nothing is left running
            self.stop()
            raise

    def _wait_ready(self) -> ServedModel:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise InfrastructureError(
                    f"the serving core for model={self.config.model!r} exited with code "
                    f"{self._process.returncode} before it was ready:\n{self.logs()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise InfrastructureError(
            f"the serving core for model={self.config.model!r} was not ready at {self.url}/ready "
            f"within {self.startup_timeout:.0f} s:\n{self.logs()[-2000:]}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        log, self._log = self._log, None
        if log is not None:
            log.unlink(missing_ok=True)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> ServedModel:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
