"""The promotion gate as a pure decision: who becomes champion, and what a rollback goes back to."""

import math

from hrm_pipeline.tracking.promotion import KEEP, PROMOTE, Candidate, decide, rollback_target


def gate(challenger, champion, margin=0.0, higher_is_better=True):
    return decide(
        challenger, champion, metric="exact_accuracy", margin=margin, higher_is_better=higher_is_better
    )


def test_first_model_becomes_champion():
    d = gate(Candidate("1", 0.3), None)
    assert d.action == PROMOTE and d.challenger == "1" and d.champion is None


def test_worse_model_is_not_promoted():
    d = gate(Candidate("2", 0.40), Candidate("1", 0.50))
    assert d.action == KEEP
    assert "challenger v2 0.4000 vs champion v1 0.5000" in d.reason


def test_a_tie_keeps_the_champion_even_with_zero_margin():
    assert gate(Candidate("2", 0.5), Candidate("1", 0.5)).action == KEEP


def test_better_model_is_promoted_only_past_the_margin():
    assert gate(Candidate("2", 0.52), Candidate("1", 0.50), margin=0.05).action == KEEP
    assert gate(Candidate("2", 0.56), Candidate("1", 0.50), margin=0.05).action == PROMOTE
    assert gate(Candidate("2", 0.51), Candidate("1", 0.50)).action == PROMOTE


def test_lower_is_better_metrics_flip_the_comparison():
    assert gate(Candidate("2", 0.9), Candidate("1", 1.0), higher_is_better=False).action == PROMOTE
    assert gate(Candidate("2", 1.1), Candidate("1", 1.0), higher_is_better=False).action == KEEP


def test_missing_metrics_never_promote():
    assert gate(Candidate("2", None), Candidate("1", 0.1)).action == KEEP
    assert gate(Candidate("2", math.nan), None).action == KEEP
    # A champion without the metric cannot be compared; replacing it stays a human's call.
    assert gate(Candidate("2", 0.9), Candidate("1", None)).action == KEEP
    assert gate(None, Candidate("1", 0.1)).action == KEEP


def test_the_champion_is_not_promoted_over_itself():
    assert gate(Candidate("3", 0.9), Candidate("3", 0.9)).action == KEEP


def test_rollback_goes_to_the_recorded_previous_champion():
    assert rollback_target("3", "1") == ("1", "champion moves back from v3 to v1")
    target, reason = rollback_target("1", None)
    assert target is None and "no previous champion" in reason
    assert rollback_target(None, None)[0] is None
