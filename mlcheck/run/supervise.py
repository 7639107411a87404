"""Running the gate's pytest as a child that an interrupt stops cleanly, with all it started.

pytest runs in its own process group (with the serving core and locust it starts), so a
SIGINT, SIGTERM or SIGHUP sent to `mlcheck gate` alone, or to the terminal's group, reaches
all of it once: the first is passed on as SIGINT (pytest tears its fixtures down: the serving
core and the stack stop), and a group that has not exited `GRACE_S` later, or a second signal,
is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

__all__ = ["GRACE_S", "run_interruptible"]

#: Seconds the interrupted pytest has to tear down before its process group is killed.
GRACE_S = 30.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_interruptible(
    command: Sequence[str], env: Mapping[str, str], grace_s: float = GRACE_S
) -> tuple[int, str | None]:
    """Run `command`; returns its exit code and the name of the signal that interrupted the
    run (None when it finished by itself)."""
    received: list[int] = []
    pgid: list[int] = []  # the child's, once it exists

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        kind = signal.SIGINT if len(received) == 1 else signal.SIGKILL
        for group in pgid:
            _signal_group(group, kind)

    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    try:
        process = subprocess.Popen(list(command), env=dict(env), start_new_session=True)
        pgid.append(process.pid)
        if received:  # a signal came while it started
            _signal_group(process.pid, signal.SIGINT)
        killed_at: float | None = None
        while True:
            try:
                code = process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if received and killed_at is None:
                    killed_at = time.monotonic() + grace_s
                if killed_at is not None and time.monotonic() > killed_at:
                    _signal_group(process.pid, signal.SIGKILL)
        if received:
            _signal_group(process.pid, signal.SIGKILL)  # whatever is left of the group
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code, signal.Signals(received[0]).name if received else None
