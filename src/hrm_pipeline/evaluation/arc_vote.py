"""ARC scoring: map every variant's answer back to the task's frame, vote, and score pass@k per task.

The protocol (hrm.md, "ARC evaluation"): each test input is answered in every augmented variant; each answer
is decoded at the row's offset and mapped back by the inverse of its dihedral transform and colour
permutation; identical answers pool their votes; candidates rank by votes, ties by the mean halting Q-value of
their voters.
A test input passes at k when one of its k best candidates equals the target; a task is solved at k only when
every one of its test inputs passes (the reference's protocol), and the per-input rate is reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from hrm_pipeline.data.arc.augment import Augmentation, invert
from hrm_pipeline.data.arc.vote import Candidate, answer_in_task_frame, grid_key, vote

VOTE_COLUMNS = ("task_id", "pair_index", "dihedral", "colour_perm", "offset_row", "offset_col", "labels")


@dataclass
class InputResult:
    """The vote on one test input of one task."""

    task_id: str
    pair_index: int
    variants: int  # rows (augmented variants) that answered it
    undecodable: int  # answers without a grid at their origin: they vote for nothing
    ranking: list[Candidate]
    target: np.ndarray
    passed: dict[int, bool] = field(default_factory=dict)  # k -> one of the top k equals the target


@dataclass
class ArcScores:
    inputs: list[InputResult]
    ks: tuple[int, ...]

    @property
    def num_tasks(self) -> int:
        return len({r.task_id for r in self.inputs})

    def per_input(self, k: int) -> float:
        """Fraction of test inputs passed at k."""
        return float(np.mean([r.passed[k] for r in self.inputs])) if self.inputs else float("nan")

    def per_task(self, k: int) -> float:
        """Fraction of tasks whose every test input passed at k."""
        solved: dict[str, bool] = {}
        for r in self.inputs:
            solved[r.task_id] = solved.get(r.task_id, True) and r.passed[k]
        return float(np.mean(list(solved.values()))) if solved else float("nan")

    def table(self) -> pl.DataFrame:
        """One row per test input (reports/eval/arc_inputs.csv)."""
        return pl.DataFrame(
            {
                "task_id": [r.task_id for r in self.inputs],
                "pair_index": [r.pair_index for r in self.inputs],
                "variants": [r.variants for r in self.inputs],
                "undecodable": [r.undecodable for r in self.inputs],
                "candidates": [len(r.ranking) for r in self.inputs],
                "top_votes": [r.ranking[0].votes if r.ranking else 0 for r in self.inputs],
                **{f"pass_at_{k}": [r.passed[k] for r in self.inputs] for k in self.ks},
            },
            schema_overrides={"pair_index": pl.Int32},
        )


def score_arc(
    table: pl.DataFrame, predictions: np.ndarray, q_halt: np.ndarray, ks: Sequence[int] = (1, 2)
) -> ArcScores:
    """Vote over every variant of every test input in ``table`` (ARC test rows, in prediction order).

    ``predictions``: (N, 900) tokens per row; ``q_halt``: (N,) halting logits of the segment that gave them.
    """
    missing = [c for c in VOTE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"ARC scoring needs columns {missing}; is this an ARC test table?")
    if not (len(table) == len(predictions) == len(q_halt)):
        raise ValueError(f"{len(table)} rows but {len(predictions)} predictions and {len(q_halt)} Q-values")
    ks = tuple(sorted(set(ks)))
    # Columns as arrays once: per-row access to a Polars frame is slow at the paper's ~400k test rows.
    dihedral = table["dihedral"].to_numpy()
    perms = table["colour_perm"].to_numpy()
    offsets = table.select("offset_row", "offset_col").to_numpy()
    labels = table["labels"].to_numpy()
    keyed = table.select("task_id", "pair_index").with_row_index("row")
    results = []
    for (task_id, pair_index), rows in keyed.group_by(["task_id", "pair_index"], maintain_order=True):
        idx = rows["row"].to_numpy()
        augs = [
            Augmentation(int(dihedral[i]), tuple(int(c) for c in perms[i]), *(int(o) for o in offsets[i]))
            for i in idx
        ]
        answers = [answer_in_task_frame(predictions[i], a) for i, a in zip(idx, augs, strict=True)]
        # Every variant's label maps back to the same target; the first row's is taken.
        target = invert(labels[idx[0]], augs[0])
        ranking = vote(answers, q_halt[idx])
        key = grid_key(target)
        results.append(
            InputResult(
                task_id=str(task_id),
                pair_index=int(pair_index),
                variants=len(idx),
                undecodable=sum(a is None for a in answers),
                ranking=ranking,
                target=target,
                passed={k: any(grid_key(c.grid) == key for c in ranking[:k]) for k in ks},
            )
        )
    return ArcScores(inputs=results, ks=ks)
