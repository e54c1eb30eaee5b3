"""The promotion gate as a pure decision: no MLflow here, so every case is unit-testable.

Two scores are compared only when they were measured on the same test data with the same evaluate settings
(``SCORED_ON``): a model scored on an easier or smaller sample must not replace one scored on the whole split.
When they differ the gate asks for the champion to be re-scored on the challenger's test data
(:data:`RESCORE`); :func:`after_rescore` then decides with the new score, or keeps the champion when it could
not be re-scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

PROMOTE = "promote"
KEEP = "keep"
RESCORE = "rescore"  # scored on different test data: re-score the champion first
# What a score was measured on (tags of every registered version); unknown = not comparable. The seed picks
# the sample only when max_examples > 0; num_examples, the evaluation's own count, is checked where recorded.
SCORED_ON = ("data_fingerprint", "split", "max_examples", "seed", "num_examples")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Candidate:
    version: str
    metric: float | None  # the gate metric; None = not recorded
    scored_on: Mapping[str, str] = field(default_factory=dict)  # SCORED_ON keys -> values; absent = unknown


@dataclass(frozen=True)
class Decision:
    action: str  # PROMOTE | KEEP | RESCORE
    reason: str  # one line
    challenger: str | None
    champion: str | None
    challenger_metric: float | None = None
    champion_metric: float | None = None
    champion_rescored: bool = False  # champion_metric was measured again, on the challenger's test data

    def to_json(self) -> dict:
        return asdict(self)


def scoring_difference(challenger: Mapping[str, str], champion: Mapping[str, str]) -> str | None:
    """How the two scores' test data or settings differ (one line), or None when they are the same."""
    sampled = any(str(side.get("max_examples", UNKNOWN)) != "0" for side in (challenger, champion))
    diffs = []
    for key in SCORED_ON:
        if key == "seed" and not sampled:
            continue  # the whole split: no sample for the seed to choose
        a, b = str(challenger.get(key, UNKNOWN)), str(champion.get(key, UNKNOWN))
        if key == "num_examples" and a == b == UNKNOWN:
            continue  # a check only: the settings above decide
        if a == UNKNOWN or b == UNKNOWN or a != b:
            if key == "data_fingerprint":
                a, b = a[:12], b[:12]
            diffs.append(f"{key} {a} vs {b}")
    return ", ".join(diffs) if diffs else None


def decide(
    challenger: Candidate | None,
    champion: Candidate | None,
    *,
    metric: str,
    margin: float,
    higher_is_better: bool = True,
) -> Decision:
    """Promote the challenger only when it beats the champion on ``metric`` by at least ``margin`` and by
    more than nothing (a tie keeps the champion), both scored on the same test data and settings (else
    :data:`RESCORE`). With no champion yet, a challenger with the metric wins."""

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
    diff = scoring_difference(challenger.scored_on, champion.scored_on)
    if diff is not None:
        return out(
            RESCORE,
            f"challenger v{challenger.version} and champion v{champion.version} were scored on different "
            f"test data or settings (challenger vs champion: {diff})",
        )
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


def after_rescore(
    first: Decision,
    challenger: Candidate,
    champion: Candidate,
    rescored: float | None,
    why_not: str = "",
    *,
    metric: str,
    margin: float,
    higher_is_better: bool = True,
) -> Decision:
    """The decision once a :data:`RESCORE` was answered: ``rescored`` is the champion's ``metric`` on the
    challenger's test data and settings, or None (``why_not`` says why it could not be measured)."""
    if first.action != RESCORE:
        return first
    if rescored is None or math.isnan(rescored):
        return Decision(
            KEEP,
            f"{first.reason}; the champion could not be re-scored ({why_not or 'no score'}), so it stays",
            first.challenger,
            first.champion,
            first.challenger_metric,
            first.champion_metric,
        )
    again = Candidate(champion.version, rescored, challenger.scored_on)
    d = decide(challenger, again, metric=metric, margin=margin, higher_is_better=higher_is_better)
    if d.action == RESCORE:  # the challenger's own record is incomplete: nothing can match it
        d = Decision(KEEP, d.reason, d.challenger, d.champion, d.challenger_metric, d.champion_metric)
    return Decision(
        d.action,
        f"champion re-scored on the challenger's test data: {d.reason}",
        d.challenger,
        d.champion,
        d.challenger_metric,
        d.champion_metric,
        champion_rescored=True,
    )


def rollback_target(champion: str | None, previous: str | None) -> tuple[str | None, str]:
    """Which version ``champion`` goes back to (None = nothing to do) and why."""
    if champion is None:
        return None, "no champion to roll back"
    if previous is None:
        return None, f"champion v{champion} has no previous champion to roll back to"
    return previous, f"champion moves back from v{champion} to v{previous}"
