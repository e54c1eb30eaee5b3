"""The promotion gate as a pure decision: no MLflow here, so every case is unit-testable."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

PROMOTE = "promote"
KEEP = "keep"


@dataclass(frozen=True)
class Candidate:
    version: str
    metric: float | None  # the gate metric; None = not recorded


@dataclass(frozen=True)
class Decision:
    action: str  # PROMOTE | KEEP
    reason: str
    challenger: str | None
    champion: str | None
    challenger_metric: float | None = None
    champion_metric: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def decide(
    challenger: Candidate | None,
    champion: Candidate | None,
    *,
    metric: str,
    margin: float,
    higher_is_better: bool = True,
) -> Decision:
    """Promote the challenger only when it beats the champion on ``metric`` by at least ``margin`` and by
    more than nothing (a tie keeps the champion). With no champion yet, a challenger with the metric wins."""

    def out(action: str, reason: str) -> Decision:
        return Decision(
            action,
            reason,
            challenger.version if challenger else None,
            champion.version if champion else None,
            challenger.metric if challenger else None,
            champion.metric if champion else None,
        )

    if challenger is None:
        return out(KEEP, "no challenger registered")
    if challenger.metric is None or math.isnan(challenger.metric):
        return out(KEEP, f"challenger v{challenger.version} has no {metric}")
    if champion is None:
        return out(
            PROMOTE, f"no champion yet; v{challenger.version} ({metric} {challenger.metric:.4f}) becomes it"
        )
    if champion.version == challenger.version:
        return out(KEEP, f"v{challenger.version} is already the champion")
    if champion.metric is None or math.isnan(champion.metric):
        # A champion without the metric cannot be compared: replacing it is a human's call.
        return out(KEEP, f"champion v{champion.version} has no {metric} to compare with")
    gain = challenger.metric - champion.metric
    if not higher_is_better:
        gain = -gain
    verdict = (
        f"{metric}: challenger v{challenger.version} {challenger.metric:.4f} vs champion v{champion.version} "
        f"{champion.metric:.4f} (gain {gain:+.4f}, margin {margin:.4f})"
    )
    if gain > 0 and gain >= margin:
        return out(PROMOTE, verdict)
    return out(KEEP, verdict)


def rollback_target(champion: str | None, previous: str | None) -> tuple[str | None, str]:
    """Which version ``champion`` goes back to (None = nothing to do) and why."""
    if champion is None:
        return None, "no champion to roll back"
    if previous is None:
        return None, f"champion v{champion} has no previous champion to roll back to"
    return previous, f"champion moves back from v{champion} to v{previous}"
