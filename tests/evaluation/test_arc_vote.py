"""ARC voting on hand-made cases: answers come back through each variant's inverse transform, pool, rank."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from hrm_pipeline.data.arc.augment import Augmentation
from hrm_pipeline.data.arc.encode import NUM_COLOURS, SEQ_LEN, encode
from hrm_pipeline.data.arc.vote import grid_key, vote
from hrm_pipeline.data.storage import token_array
from hrm_pipeline.evaluation.arc_vote import score_arc

# Two test inputs of one task; asymmetric grids, so every dihedral transform changes them.
TARGETS = {
    0: np.array([[1, 2, 0], [0, 3, 3]], dtype=np.uint8),
    1: np.array([[4, 0], [4, 5], [0, 6]], dtype=np.uint8),
}
WRONG = np.array([[7, 7], [7, 8]], dtype=np.uint8)
SWAP_1_2 = (0, 2, 1, 3, 4, 5, 6, 7, 8, 9)
ROTATE_COLOURS = (0, 2, 3, 4, 5, 6, 7, 8, 9, 1)
# Three variants: the original, rot90 with colours 1 <-> 2 swapped at an offset, a flip with a colour cycle.
VARIANTS = [
    Augmentation(),
    Augmentation(dihedral=1, colour_perm=SWAP_1_2, offset_row=3, offset_col=5),
    Augmentation(dihedral=4, colour_perm=ROTATE_COLOURS, offset_row=1, offset_col=0),
]


def canvas(grid: np.ndarray, aug: Augmentation) -> np.ndarray:
    """What a model answering ``grid`` (in the task's frame) writes in ``aug``'s frame."""
    return encode(aug.apply(grid), (aug.offset_row, aug.offset_col))


def make_table(task: str = "t1", pairs=(0, 1)) -> tuple[pl.DataFrame, list[Augmentation]]:
    rows = [(p, v, aug) for p in pairs for v, aug in enumerate(VARIANTS)]
    table = pl.DataFrame(
        {
            "task_id": [task] * len(rows),
            "pair_index": pl.Series([p for p, _, _ in rows], dtype=pl.Int16),
            "variant": [v for _, v, _ in rows],
            "dihedral": pl.Series([a.dihedral for _, _, a in rows], dtype=pl.Int8),
            "colour_perm": pl.Series(
                np.array([a.colour_perm for _, _, a in rows], dtype=np.uint8),
                dtype=pl.Array(pl.UInt8, NUM_COLOURS),
            ),
            "offset_row": pl.Series([a.offset_row for _, _, a in rows], dtype=pl.Int8),
            "offset_col": pl.Series([a.offset_col for _, _, a in rows], dtype=pl.Int8),
            "labels": token_array(np.stack([canvas(TARGETS[p], a) for p, _, a in rows]), SEQ_LEN),
        }
    )
    return table, [a for _, _, a in rows]


def predictions_for(answers_per_row: list[np.ndarray | None], augs: list[Augmentation]) -> np.ndarray:
    """Token canvases: each answer placed in its row's frame; None = an empty (undecodable) canvas."""
    empty = np.zeros(SEQ_LEN, np.uint8)
    return np.stack(
        [canvas(g, a) if g is not None else empty for g, a in zip(answers_per_row, augs, strict=True)]
    )


def test_every_variant_right_pools_into_one_candidate_after_inversion():
    table, augs = make_table()
    # The raw canvases differ (other frames, colours, offsets); only the inverse transforms make them agree.
    answers = [TARGETS[p] for p in (0, 0, 0, 1, 1, 1)]
    preds = predictions_for(answers, augs)
    assert len({p.tobytes() for p in preds[:3]}) == 3
    scores = score_arc(table, preds, np.zeros(len(table)), ks=(1, 2))
    summary = [(r.pair_index, len(r.ranking), r.ranking[0].votes) for r in scores.inputs]
    assert summary == [(0, 1, 3), (1, 1, 3)]
    assert scores.per_task(1) == 1.0 and scores.per_input(1) == 1.0


def test_majority_wins_and_the_runner_up_counts_for_pass_at_2():
    table, augs = make_table(pairs=(0,))
    preds = predictions_for([WRONG, WRONG, TARGETS[0]], augs)
    # The lone right answer has the highest Q, but votes come first.
    scores = score_arc(table, preds, np.array([-3.0, -3.0, 5.0]), ks=(1, 2))
    (result,) = scores.inputs
    assert [c.votes for c in result.ranking] == [2, 1]
    assert grid_key(result.ranking[0].grid) == grid_key(WRONG)
    assert result.passed == {1: False, 2: True}


@pytest.mark.parametrize("q_right, q_wrong, right_first", [(2.0, -1.0, True), (-1.0, 2.0, False)])
def test_equal_votes_are_ranked_by_mean_halting_q(q_right, q_wrong, right_first):
    table, augs = make_table(pairs=(0,))
    # One vote each; the third variant answered nothing decodable and votes for nothing.
    preds = predictions_for([WRONG, TARGETS[0], None], augs)
    scores = score_arc(table, preds, np.array([q_wrong, q_right, 9.0]), ks=(1, 2))
    (result,) = scores.inputs
    assert result.undecodable == 1 and [c.votes for c in result.ranking] == [1, 1]
    assert result.passed[1] is right_first and result.passed[2]


def test_a_task_is_solved_only_when_all_its_test_inputs_are():
    table, augs = make_table(pairs=(0, 1))
    # Input 0 right in every variant; input 1 wrong in two of three (passes at 2, not at 1).
    preds = predictions_for([TARGETS[0]] * 3 + [WRONG, WRONG, TARGETS[1]], augs)
    scores = score_arc(table, preds, np.zeros(len(table)), ks=(1, 2))
    assert scores.per_input(1) == 0.5 and scores.per_task(1) == 0.0
    assert scores.per_input(2) == 1.0 and scores.per_task(2) == 1.0
    csv = scores.table()
    assert csv["pass_at_1"].to_list() == [True, False] and csv["top_votes"].to_list() == [3, 2]


def test_tasks_are_scored_separately():
    a, augs_a = make_table("a", pairs=(0,))
    b, augs_b = make_table("b", pairs=(0,))
    preds = np.concatenate([predictions_for([TARGETS[0]] * 3, augs_a), predictions_for([WRONG] * 3, augs_b)])
    scores = score_arc(pl.concat([a, b]), preds, np.zeros(6), ks=(1,))
    assert scores.num_tasks == 2 and scores.per_task(1) == 0.5


def test_vote_keeps_first_appearance_order_on_a_full_tie_and_skips_missing_answers():
    g1, g2 = np.array([[1]]), np.array([[2]])
    ranking = vote([None, g2, g1, g1, g2], [0.0, 1.0, 0.5, 1.5, 1.0])
    assert [(int(c.grid[0, 0]), c.votes, c.mean_q) for c in ranking] == [(2, 2, 1.0), (1, 2, 1.0)]
    # Same cells, other shape: a different answer.
    assert grid_key(np.array([[1, 2]])) != grid_key(np.array([[1], [2]]))


def test_mismatched_lengths_are_refused():
    table, augs = make_table(pairs=(0,))
    with pytest.raises(ValueError, match="predictions"):
        score_arc(table, predictions_for([WRONG] * 2, augs[:2]), np.zeros(2))
