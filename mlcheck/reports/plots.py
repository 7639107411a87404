"""Plots of a suite result, as inline SVG: the parts a person would rather look at than read.

- quality: each metric's value and interval against its threshold;
- drift: each column's drift score against its threshold;
- latency: the measured percentiles against their thresholds.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from mlcheck.results import Comparison, GateResult, Outcome, SuiteResult

__all__ = ["drift_plot", "latency_plot", "quality_plot", "suite_plots"]

_COLOURS = {Outcome.PASS: "#1a7f37", Outcome.WARN: "#9a6700", Outcome.FAIL: "#cf222e"}


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(rows: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 0.45 * rows + 1.0))
    return figure, axes


def _decided(gates: Sequence[GateResult]) -> list[GateResult]:
    """Gates with a finite value and threshold (a NaN or infinite one has no place on an axis;
    the gate table shows it)."""
    return [
        g
        for g in gates
        if g.value is not None
        and g.threshold is not None
        and math.isfinite(g.value)
        and math.isfinite(g.threshold)
        and g.outcome in _COLOURS
    ]


def quality_plot(suite: SuiteResult) -> str | None:
    """Value, interval and threshold of every quality metric gate (each on its own 0-1 scale)."""
    gates = [g for g in _decided(suite.gates) if g.name.startswith("quality.") and g.interval]
    if not gates:
        return None
    figure, ax = _figure(len(gates))
    for row, gate in enumerate(gates):
        value = float(gate.value or 0.0)  # _decided: a finite value
        low, high = gate.interval or (value, value)
        if not (math.isfinite(low) and math.isfinite(high)):
            low = high = value
        colour = _COLOURS[gate.outcome]
        ax.plot([low, high], [row, row], color=colour, linewidth=3)
        ax.plot(gate.value, row, "o", color=colour)
        ax.plot(gate.threshold, row, "|", color="black", markersize=18)
    ax.set_yticks(range(len(gates)), [g.name for g in gates])
    ax.set_xlabel("value with its 95% interval; | = threshold")
    ax.invert_yaxis()
    return _svg(figure)


def drift_plot(suite: SuiteResult) -> str | None:
    """Each column's drift score as a share of its threshold (1 = the drift line)."""
    gates = [
        g
        for g in _decided(suite.gates)
        if g.name.startswith("drift.") and g.name != "drift.dataset" and g.threshold
    ]
    if not gates:
        return None
    figure, ax = _figure(len(gates))
    ratios = []
    for gate in gates:
        value, threshold = float(gate.value or 0.0), float(gate.threshold or 1.0)
        # p-values drift below the threshold: plot threshold/value so that > 1 means drift too
        if gate.comparison is Comparison.GE:
            ratios.append(threshold / max(value, 1e-12))
        else:
            ratios.append(value / threshold)
    shown = [min(r, 5.0) for r in ratios]
    ax.barh(range(len(gates)), shown, color=[_COLOURS[g.outcome] for g in gates])
    ax.axvline(1.0, color="black", linestyle="--")
    labels = [f"{g.name} ({g.metric})" for g in gates]
    ax.set_yticks(range(len(gates)), labels)
    ax.set_xlabel("drift score / threshold (past the dashed line: drifted; capped at 5)")
    ax.invert_yaxis()
    return _svg(figure)


def latency_plot(suite: SuiteResult) -> str | None:
    """Measured latency percentiles (ms) against their thresholds."""
    gates = [
        g
        for g in _decided(suite.gates)
        if g.metric in ("p95_ms", "p99_ms") and (g.name.startswith(("latency.", "load.", "stack.")))
    ]
    if not gates:
        return None
    figure, ax = _figure(len(gates))
    ax.barh(
        range(len(gates)),
        [g.value or 0.0 for g in gates],
        color=[_COLOURS[g.outcome] for g in gates],
    )
    for row, gate in enumerate(gates):
        ax.plot(gate.threshold, row, "|", color="black", markersize=18)
    ax.set_xscale("log")
    ax.set_yticks(range(len(gates)), [f"{g.name} ({g.metric})" for g in gates])
    ax.set_xlabel("milliseconds (log scale); | = threshold")
    ax.invert_yaxis()
    return _svg(figure)


def suite_plots(suite: SuiteResult) -> dict[str, str]:
    """Every plot that has something to show, by title."""
    plots = {
        "Quality: value and interval vs threshold": quality_plot(suite),
        "Drift: score per column vs threshold": drift_plot(suite),
        "Latency: percentiles vs threshold": latency_plot(suite),
    }
    return {title: svg for title, svg in plots.items() if svg}
