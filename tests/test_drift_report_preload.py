"""Evidently is imported on a thread while the gates compute; nothing there may reach a gate."""

from __future__ import annotations

import sys
import threading
import warnings

import pytest

from mlcheck.reports import drift_html


def test_an_import_that_fails_on_the_thread_is_dropped(monkeypatch):
    monkeypatch.setattr(drift_html, "available", lambda name: True)
    monkeypatch.setitem(sys.modules, "evidently.presets", None)  # `import` raises ImportError
    caught: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: caught.append(args.exc_value))
    thread = threading.Thread(target=drift_html.preload)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and caught == []


def test_the_preload_leaves_the_warning_filters_alone(monkeypatch):
    monkeypatch.setattr(drift_html, "available", lambda name: True)
    monkeypatch.setitem(sys.modules, "evidently.presets", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        before = list(warnings.filters)
        drift_html.preload()
        assert warnings.filters == before
        with pytest.raises(UserWarning):
            warnings.warn("still an error", UserWarning, stacklevel=1)
