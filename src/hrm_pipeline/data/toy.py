"""A built-in toy task: 4x4 sudoku (2x2 boxes), small enough to learn on a laptop CPU in a minute.

Every cell depends on its row, column and box, so the task needs reasoning over the whole grid, like the
real 9x9 task, at 16 tokens instead of 81. There are exactly 288 solution grids; they are enumerated, shuffled
with the seed, and split by grid (test grids never appear in train). A puzzle blanks cells of a grid in a
random order, keeping a blank only while the puzzle still has exactly one solution (checked against all 288
grids, which is exact); by default it goes on until no cell can be blanked (a minimal puzzle).

Dataset layout (docs/CONTRACTS.md): group = solution grid, puzzle = one distinct blank pattern of it, one
example per puzzle; an epoch therefore shows each grid once, with one of its puzzles. Tokens follow the
Sudoku convention: 0 pad, 1 blank, digit d -> d + 1 (vocab 6).

Trivial baseline (``baseline_accuracy``): copy the givens and write the most common digit into every blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations

import numpy as np
import polars as pl

from hrm_pipeline.data.storage import DatasetMeta, DatasetTables, TokenDataset, token_array

SIZE = 4  # grid side
BOX = 2  # box side
NUM_CELLS = SIZE * SIZE
NUM_GRIDS = 288  # the number of valid 4x4 sudoku grids (a known count; asserted by the tests)
BLANK_TOKEN = 1
DIGIT_OFFSET = 1  # digit d is token d + 1 (tokens 0 and 1 are pad and blank)
VOCAB_SIZE = SIZE + 2
GENERATOR_VERSION = "toy-sudoku4-v1"


@dataclass
class ToySudokuConfig:
    seed: int = 0
    test_grids: int = 48  # grids held out for test (of 288)
    puzzles_per_grid: int = 16  # blank-pattern draws per grid; duplicates are dropped
    min_givens: int = 0  # stop blanking at this many givens; 0 = blank down to a minimal puzzle


@dataclass
class ToySplit:
    """One split as plain arrays, digits 1..4 with 0 = blank (before tokenisation)."""

    puzzles: np.ndarray  # (N, 16)
    solutions: np.ndarray  # (N, 16)
    group_ids: np.ndarray  # (N,)
    puzzle_ids: np.ndarray  # (N,)
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def all_grids() -> np.ndarray:
    """All valid 4x4 sudoku grids, (288, 16), digits 1..4, in lexicographic order."""
    rows = [np.array(p) for p in permutations(range(1, SIZE + 1))]
    grids: list[np.ndarray] = []

    def extend(prefix: list[np.ndarray]) -> None:
        if len(prefix) == SIZE:
            grids.append(np.concatenate(prefix))
            return
        r = len(prefix)
        for row in rows:
            if any(np.any(row == other) for other in prefix):  # column clash
                continue
            if r % BOX == 1:  # second row of a box band: boxes must hold distinct digits
                prev = prefix[-1]
                if any(
                    len(set(prev[c : c + BOX]) | set(row[c : c + BOX])) < 2 * BOX for c in range(0, SIZE, BOX)
                ):
                    continue
            extend(prefix + [row])

    extend([])
    return np.stack(grids).astype(np.int8)


def count_solutions(puzzle: np.ndarray, grids: np.ndarray) -> int:
    """Number of grids consistent with the givens of ``puzzle`` (0 = blank); exact, since ``grids`` is all."""
    given = puzzle != 0
    return int(np.all(grids[:, given] == puzzle[given], axis=1).sum())


def make_puzzle(
    solution: np.ndarray, grids: np.ndarray, rng: np.random.Generator, min_givens: int
) -> np.ndarray:
    """Blank cells of ``solution`` in a random order while the solution stays unique."""
    puzzle = solution.copy()
    for cell in rng.permutation(NUM_CELLS):
        if np.count_nonzero(puzzle) <= min_givens:
            break
        keep = puzzle[cell]
        puzzle[cell] = 0
        if count_solutions(puzzle, grids) != 1:
            puzzle[cell] = keep
    return puzzle


def generate_splits(cfg: ToySudokuConfig) -> dict[str, ToySplit]:
    rng = np.random.default_rng(cfg.seed)
    grids = all_grids()
    order = rng.permutation(len(grids))
    split_grids = {"test": order[: cfg.test_grids], "train": order[cfg.test_grids :]}
    out: dict[str, ToySplit] = {}
    next_puzzle_id = 0
    for name in ("train", "test"):
        puzzles, solutions, group_ids, puzzle_ids = [], [], [], []
        for grid_idx in split_grids[name]:
            seen: set[bytes] = set()
            for _ in range(cfg.puzzles_per_grid):
                p = make_puzzle(grids[grid_idx], grids, rng, cfg.min_givens)
                if p.tobytes() in seen:
                    continue
                seen.add(p.tobytes())
                puzzles.append(p)
                solutions.append(grids[grid_idx])
                group_ids.append(int(grid_idx))
                puzzle_ids.append(next_puzzle_id)
                next_puzzle_id += 1
        out[name] = ToySplit(
            puzzles=np.stack(puzzles),
            solutions=np.stack(solutions),
            group_ids=np.asarray(group_ids, dtype=np.int64),
            puzzle_ids=np.asarray(puzzle_ids, dtype=np.int64),
        )
    return out


def to_tokens(digits: np.ndarray) -> np.ndarray:
    """Digits 1..4 (0 = blank) to tokens: blank 1, digit d -> d + 1."""
    return np.where(digits == 0, BLANK_TOKEN, digits + DIGIT_OFFSET).astype(np.uint8)


def _token_dataset(split: ToySplit) -> TokenDataset:
    return TokenDataset(
        inputs=to_tokens(split.puzzles),
        labels=to_tokens(split.solutions),
        puzzle_identifiers=np.zeros(len(split.puzzles), dtype=np.int64),
        group_ids=split.group_ids,
        puzzle_ids=split.puzzle_ids,
        vocab_size=VOCAB_SIZE,
        seq_len=NUM_CELLS,
        num_puzzle_identifiers=1,
    )


def build_toy(cfg: ToySudokuConfig | None = None) -> tuple[TokenDataset, TokenDataset]:
    """(train, test) token datasets; deterministic for ``cfg.seed``."""
    splits = generate_splits(cfg or ToySudokuConfig())
    return _token_dataset(splits["train"]), _token_dataset(splits["test"])


def build_tables(cfg: ToySudokuConfig, *, progress: bool = True) -> DatasetTables:
    """The toy task as dataset tables (docs/CONTRACTS.md), for the stages that read ``data/<dataset>/``."""
    del progress  # generation takes about a second
    splits = generate_splits(cfg)
    frames = {}
    for name, split in splits.items():
        n = len(split.puzzles)
        frames[name] = pl.DataFrame(
            {
                "group_id": pl.Series(split.group_ids, dtype=pl.Int64),
                "puzzle_id": pl.Series(split.puzzle_ids, dtype=pl.Int64),
                "example_id": pl.Series(np.arange(n), dtype=pl.Int64),
                "puzzle_identifier": pl.Series(np.zeros(n), dtype=pl.Int32),
                "inputs": token_array(to_tokens(split.puzzles), NUM_CELLS),
                "labels": token_array(to_tokens(split.solutions), NUM_CELLS),
                "givens": pl.Series(np.count_nonzero(split.puzzles, axis=1), dtype=pl.Int32),
            }
        )
    meta = DatasetMeta(
        dataset="toy_sudoku4",
        vocab_size=VOCAB_SIZE,
        seq_len=NUM_CELLS,
        num_puzzle_identifiers=1,
        generator_version=GENERATOR_VERSION,
        seed=cfg.seed,
        params={k: getattr(cfg, k) for k in ("seed", "test_grids", "puzzles_per_grid", "min_givens")},
    )
    return DatasetTables(splits=frames, meta=meta)


def baseline_accuracy(data: TokenDataset) -> dict[str, float]:
    """Token and exact accuracy of the trivial solver: givens copied, every blank = the most common digit."""
    blank = data.inputs == BLANK_TOKEN
    digits, counts = np.unique(data.labels[blank], return_counts=True)
    guess = np.where(blank, digits[np.argmax(counts)], data.inputs)
    correct = guess == data.labels
    return {"accuracy": float(correct.mean()), "exact_accuracy": float(correct.all(axis=1).mean())}
