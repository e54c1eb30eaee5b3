"""The promotion gate as a pure decision: who becomes champion, and what a rollback goes back to."""

import math

import pytest

from hrm_pipeline.tracking.promotion import (
    KEEP,
    PROMOTE,
    RESCORE,
    Candidate,
    after_rescore,
    decide,
    rollback_target,
)

WHOLE = {
    "data_fingerprint": "ab" * 32,
    "split": "test",
    "max_examples": "0",
    "seed": "0",
    "num_examples": "200",
}


def scored(version, metric, **changes):
    return Candidate(version, metric, {**WHOLE, **changes})


def gate(challenger, champion, margin=0.0, higher_is_better=True):
    return decide(
        challenger, champion, metric="exact_accuracy", margin=margin, higher_is_better=higher_is_better
    )


def test_first_model_becomes_champion():
    d = gate(scored("1", 0.3), None)
    assert d.action == PROMOTE and d.challenger == "1" and d.champion is None


def test_worse_model_is_not_promoted():
    d = gate(scored("2", 0.40), scored("1", 0.50))
    assert d.action == KEEP
    assert "challenger v2 0.4000 vs champion v1 0.5000" in d.reason


def test_a_tie_keeps_the_champion_even_with_zero_margin():
    assert gate(scored("2", 0.5), scored("1", 0.5)).action == KEEP


def test_better_model_is_promoted_only_past_the_margin():
    assert gate(scored("2", 0.52), scored("1", 0.50), margin=0.05).action == KEEP
    assert gate(scored("2", 0.56), scored("1", 0.50), margin=0.05).action == PROMOTE
    assert gate(scored("2", 0.51), scored("1", 0.50)).action == PROMOTE


def test_lower_is_better_metrics_flip_the_comparison():
    assert gate(scored("2", 0.9), scored("1", 1.0), higher_is_better=False).action == PROMOTE
    assert gate(scored("2", 1.1), scored("1", 1.0), higher_is_better=False).action == KEEP


def test_missing_metrics_never_promote():
    assert gate(scored("2", None), scored("1", 0.1)).action == KEEP
    assert gate(scored("2", math.nan), None).action == KEEP
    # A champion without the metric cannot be compared; replacing it stays a human's call.
    assert gate(scored("2", 0.9), scored("1", None)).action == KEEP
    assert gate(None, scored("1", 0.1)).action == KEEP


def test_the_champion_is_not_promoted_over_itself():
    assert gate(scored("3", 0.9), scored("3", 0.9)).action == KEEP


def test_rollback_goes_to_the_recorded_previous_champion():
    assert rollback_target("3", "1") == ("1", "champion moves back from v3 to v1")
    target, reason = rollback_target("1", None)
    assert target is None and "no previous champion" in reason
    assert rollback_target(None, None)[0] is None


def test_scores_on_the_same_test_data_and_settings_are_compared():
    d = gate(scored("2", 0.6), scored("1", 0.5))
    assert d.action == PROMOTE and not d.champion_rescored
    # The sample seed is no setting when the whole split was scored.
    assert gate(scored("2", 0.6, seed="7"), scored("1", 0.5)).action == PROMOTE


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"max_examples": "50", "num_examples": "50"}, "max_examples 50 vs 0"),  # a smaller sample
        ({"split": "train"}, "split train vs test"),  # the training split: easier
        ({"data_fingerprint": "cd" * 32}, "data_fingerprint cdcdcdcdcdcd vs abababababab"),  # other data
        ({"num_examples": "199"}, "num_examples 199 vs 200"),
    ],
)
def test_a_challenger_scored_on_other_test_data_never_replaces_the_champion_directly(changes, named):
    d = gate(scored("2", 0.99, **changes), scored("1", 0.5))
    assert d.action == RESCORE and named in d.reason and "\n" not in d.reason


def test_the_sample_seed_matters_when_a_sample_was_scored():
    sample = {"max_examples": "50", "num_examples": "50"}
    assert gate(scored("2", 0.9, seed="1", **sample), scored("1", 0.5, **sample)).action == RESCORE
    assert gate(scored("2", 0.9, **sample), scored("1", 0.5, **sample)).action == PROMOTE


def test_a_version_registered_without_its_evaluate_settings_is_not_comparable():
    d = gate(scored("2", 0.9), Candidate("1", 0.5, {"data_fingerprint": WHOLE["data_fingerprint"]}))
    assert d.action == RESCORE and "split test vs unknown" in d.reason


def rescore_then(challenger, champion, rescored, why_not=""):
    first = gate(challenger, champion)
    return after_rescore(first, challenger, champion, rescored, why_not, metric="exact_accuracy", margin=0.0)


def test_the_rescored_champion_is_compared_on_the_challengers_test_data():
    challenger = scored("2", 0.6, max_examples="50", num_examples="50")
    champion = scored("1", 0.5)
    d = rescore_then(challenger, champion, 0.7)  # the champion does better on the challenger's sample
    assert d.action == KEEP and d.champion_rescored and d.champion_metric == 0.7
    assert d.reason.startswith("champion re-scored on the challenger's test data: exact_accuracy")
    d = rescore_then(challenger, champion, 0.4)
    assert d.action == PROMOTE and d.champion_metric == 0.4


def test_a_champion_that_cannot_be_rescored_is_kept_with_the_reason():
    challenger, champion = scored("2", 0.99, split="train"), scored("1", 0.5)
    d = rescore_then(challenger, champion, None, "this workspace's split is not the challenger's")
    assert d.action == KEEP and not d.champion_rescored
    assert "split train vs test" in d.reason and "could not be re-scored (this workspace's split" in d.reason
    assert "\n" not in d.reason
    assert rescore_then(challenger, champion, math.nan, "").action == KEEP
    same = gate(scored("2", 0.6), champion)  # nothing to re-score: the first decision stands
    assert after_rescore(same, scored("2", 0.6), champion, None, metric="exact_accuracy", margin=0.0) == same


def test_a_challenger_without_a_record_of_its_test_data_is_kept_out_even_after_a_rescore():
    challenger, champion = Candidate("2", 0.9, {"data_fingerprint": "ab" * 32}), scored("1", 0.5)
    d = rescore_then(challenger, champion, 0.1)
    assert d.action == KEEP and "split unknown vs" in d.reason
