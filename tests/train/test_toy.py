import numpy as np

from hrm_pipeline.data.toy import (
    BLANK_TOKEN,
    NUM_GRIDS,
    ToySudokuConfig,
    all_grids,
    baseline_accuracy,
    build_tables,
    build_toy,
    count_solutions,
    generate_splits,
)


def _is_valid_grid(g: np.ndarray) -> bool:
    g = g.reshape(4, 4)
    units = [g[r] for r in range(4)] + [g[:, c] for c in range(4)]
    units += [g[r : r + 2, c : c + 2].ravel() for r in (0, 2) for c in (0, 2)]
    return all(sorted(u.tolist()) == [1, 2, 3, 4] for u in units)


def test_all_288_grids_are_distinct_valid_sudokus():
    grids = all_grids()
    assert grids.shape == (NUM_GRIDS, 16)
    assert len({g.tobytes() for g in grids}) == NUM_GRIDS
    assert all(_is_valid_grid(g) for g in grids)


def test_every_puzzle_has_exactly_one_solution_which_is_its_label():
    grids = all_grids()
    splits = generate_splits(ToySudokuConfig(seed=1, puzzles_per_grid=3))
    for split in splits.values():
        for puzzle, solution in zip(split.puzzles, split.solutions, strict=True):
            assert count_solutions(puzzle, grids) == 1
            given = puzzle != 0
            assert np.array_equal(puzzle[given], solution[given])


def test_default_puzzles_are_minimal_no_given_can_be_removed():
    grids = all_grids()
    split = generate_splits(ToySudokuConfig(seed=2, puzzles_per_grid=1))["test"]
    for puzzle in split.puzzles[:20]:
        for cell in np.flatnonzero(puzzle):
            fewer = puzzle.copy()
            fewer[cell] = 0
            assert count_solutions(fewer, grids) > 1


def test_test_grids_are_held_out_and_generation_is_seeded():
    train, test = build_toy(ToySudokuConfig(seed=3, puzzles_per_grid=2))
    assert not set(train.group_ids.tolist()) & set(test.group_ids.tolist())
    assert len(set(test.group_ids.tolist())) == ToySudokuConfig().test_grids
    again, _ = build_toy(ToySudokuConfig(seed=3, puzzles_per_grid=2))
    assert np.array_equal(train.inputs, again.inputs)
    other, _ = build_toy(ToySudokuConfig(seed=4, puzzles_per_grid=2))
    assert not np.array_equal(train.inputs[: len(other)], other.inputs[: len(train)])


def test_min_givens_stops_blanking_and_tables_follow_the_contract():
    train, _ = build_toy(ToySudokuConfig(seed=0, puzzles_per_grid=2, min_givens=10))
    assert np.all((train.inputs != BLANK_TOKEN).sum(axis=1) >= 10)
    tables = build_tables(ToySudokuConfig(seed=0, puzzles_per_grid=2))
    df = tables.splits["train"]
    assert {"group_id", "puzzle_id", "example_id", "puzzle_identifier", "inputs", "labels"} <= set(df.columns)
    assert df["example_id"].n_unique() == df.height
    assert tables.meta.vocab_size == 6 and tables.meta.seq_len == 16


def test_trivial_baseline_solves_no_minimal_puzzle():
    _, test = build_toy()
    base = baseline_accuracy(test)
    assert base["exact_accuracy"] == 0.0
    assert 0.4 < base["accuracy"] < 0.5  # 4-6 givens of 16 copied, a quarter of the blanks guessed right
