"""Augmentation is a group action that keeps puzzles valid; the canonical form is its invariant."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_pipeline.data.sudoku import (
    SHAPE_9,
    Shape,
    apply_transform,
    canonical_key,
    count_solutions,
    parse,
    random_puzzle,
    random_transform,
    valid_grids,
)
from hrm_pipeline.data.sudoku.api import to_string
from hrm_pipeline.data.sudoku.symmetry import OrbitSet, invariant_hash

HARD = "........8..3...4...9..2..6.....79.......612...6.5.2.7...8...5...1.....2.4.5.....3"
HARD_SOL = "621943758783615492594728361142879635357461289869532174238197546916354827475286913"


def test_transform_keeps_puzzle_unique_and_solution_valid_and_aligned():
    rng = np.random.default_rng(0)
    p, s = parse(HARD), parse(HARD_SOL)
    for _ in range(10):
        t = random_transform(SHAPE_9, rng)
        tp, ts = apply_transform(p, t, SHAPE_9), apply_transform(s, t, SHAPE_9)
        assert valid_grids(ts[None], SHAPE_9)[0]
        assert ((tp == 0) | (tp == ts)).all()
        assert count_solutions(to_string(tp)) == 1
        assert (tp > 0).sum() == (p > 0).sum()


@pytest.mark.parametrize("shape", [SHAPE_9, Shape(2, 3)])
def test_canonical_form_is_invariant_under_random_transforms(shape):
    rng = np.random.default_rng(1)
    if shape == SHAPE_9:
        grid = parse(HARD)
    else:
        grid = parse("1.....4...2..1..4.....5..2.......4..", shape)
    key = canonical_key(grid, shape)
    for _ in range(8):
        t = random_transform(shape, rng)
        assert canonical_key(apply_transform(grid, t, shape), shape) == key
        # composition: transforming twice is still in the orbit
        t2 = random_transform(shape, rng)
        twice = apply_transform(apply_transform(grid, t, shape), t2, shape)
        assert canonical_key(twice, shape) == key


def test_canonical_form_separates_inequivalent_puzzles():
    p = parse(HARD)
    q = p.copy()
    q[np.flatnonzero(q == 0)[0]] = parse(HARD_SOL)[np.flatnonzero(q == 0)[0]]  # one more given
    assert canonical_key(p, SHAPE_9) != canonical_key(q, SHAPE_9)


def test_transpose_only_for_square_boxes():
    rng = np.random.default_rng(2)
    assert not any(random_transform(Shape(2, 3), rng).transpose for _ in range(50))
    assert any(random_transform(SHAPE_9, rng).transpose for _ in range(50))


def test_invariant_hash_is_constant_on_orbits_and_orbit_set_refuses_equivalents():
    rng = np.random.default_rng(7)
    for shape in (SHAPE_9, Shape(2, 3)):
        p = random_puzzle(shape, rng).puzzle
        orbits = OrbitSet(shape)
        assert orbits.add(p)
        for _ in range(10):
            img = apply_transform(p, random_transform(shape, rng), shape)
            assert invariant_hash(img, shape) == invariant_hash(p, shape)
            assert not orbits.add(img)
        other = p.copy()
        other[np.flatnonzero(p)[0]] = 0  # one clue fewer: a different orbit
        assert orbits.add(other) and len(orbits) == 2
        assert orbits.keys() == {canonical_key(p, shape), canonical_key(other, shape)}
