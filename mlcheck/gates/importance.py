"""The importance-stability gate: did the model's explanations move between the reference
and the current data?

From each feature's importance on both (`mlcheck.probes.importance`): the Spearman rank
correlation of the reference's top-k features' importances with theirs on the current data,
and each feature's share of the total importance (negative importances, which are noise,
count as 0). The gate fails when the correlation falls under its minimum or a share moves by
more than its maximum.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from mlcheck.policy import ImportancePolicy
from mlcheck.results import Comparison, GateResult, Outcome

__all__ = ["importance_shares", "importance_stability_gate"]


def importance_shares(importance: Mapping[str, float]) -> dict[str, float]:
    """Each feature's share of the total positive importance (all 0 when none is positive)."""
    positive = {name: max(value, 0.0) for name, value in importance.items()}
    total = sum(positive.values())
    return {name: (value / total if total > 0 else 0.0) for name, value in positive.items()}


def importance_stability_gate(
    reference: Mapping[str, float],
    current: Mapping[str, float],
    policy: ImportancePolicy,
    method: str,
    metric: str,
    sample: Mapping[str, Any] | None = None,
) -> GateResult:
    """The largest move of a feature's share of the importance, against `max_share_shift`;
    and the rank correlation of the reference's top features (its `top_k` with at least
    `min_share` of the importance: below that, a feature's rank is noise), when there are
    three or more, against `min_rank_correlation`. `sample` (the rows the importances were
    measured on, and how well such a sample ranks like all rows) is shown in the details."""
    name = "drift.importance"
    features = [f for f in reference if f in current]
    if len(features) < 2:
        return GateResult.error(name, "fewer than two features to compare", metric="share shift")
    ref_shares, cur_shares = importance_shares(reference), importance_shares(current)
    if not any(ref_shares.values()):
        return GateResult.error(
            name,
            "no feature has a positive importance on the reference data: the model's score "
            "does not depend on its inputs there (check the reference labels)",
            metric="share shift",
        )
    shifts = {f: cur_shares[f] - ref_shares[f] for f in features}
    moved = max(features, key=lambda f: abs(shifts[f]))
    ranked = sorted(features, key=lambda f: reference[f], reverse=True)[: policy.top_k]
    ranked = [f for f in ranked if ref_shares[f] >= policy.min_share]
    correlation: float | None = None
    if len(ranked) >= 3:
        ref_values = np.array([reference[f] for f in ranked])
        cur_values = np.array([current[f] for f in ranked])
        correlation = (
            0.0  # the model no longer tells them apart: no order is kept
            if np.ptp(cur_values) == 0
            else float(stats.spearmanr(ref_values, cur_values).statistic)
        )
    reasons = []
    if abs(shifts[moved]) > policy.max_share_shift:
        reasons.append(
            f"{moved}'s share of importance moved {ref_shares[moved]:.0%} -> "
            f"{cur_shares[moved]:.0%}"
        )
    if correlation is not None and not correlation >= policy.min_rank_correlation:
        reasons.append(
            f"the top {len(ranked)} features rank differently (Spearman {correlation:.2f} < "
            f"{policy.min_rank_correlation:g})"
        )
    failed = Outcome.when_not_held(policy.outcome)
    return GateResult(
        name=name,
        outcome=failed if reasons else Outcome.PASS,
        metric="largest share shift",
        value=abs(shifts[moved]),
        threshold=policy.max_share_shift,
        comparison=Comparison.LE,
        reason="; ".join(reasons) or f"largest move: {moved}",
        details={
            "method": method,
            "score": metric,
            "ranked": ranked,
            "rank_correlation": correlation,
            "min_rank_correlation": policy.min_rank_correlation,
            "reference": dict(reference),
            "current": dict(current),
            "share_shift": shifts,
            "largest_shift": {"feature": moved, "shift": shifts[moved]},
            **({"sample": dict(sample)} if sample is not None else {}),
        },
    )
