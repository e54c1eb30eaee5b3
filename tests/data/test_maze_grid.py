"""Maze grids: the official labeller, the paper's path criterion, dihedral symmetry and canonical layouts."""

import numpy as np
import pytest

from hrm_pipeline.data.maze import (
    decode,
    dihedral,
    dihedral_compose,
    dihedral_inverse,
    dihedral_tokens,
    encode,
    exact_match,
    label,
    label_tokens,
    path_moves,
    valid_optimal_path,
)
from hrm_pipeline.data.maze.grid import canonical_layouts, endpoint_eccentricity

# 3x3 open grid, S top-left, G bottom-right: the tie-break tries row+1 first: down, then right.
OPEN_3X3 = "S" + " " * 7 + "G"
OPEN_3X3_LABEL = "S  " + "o  " + "ooG"


def _official(shared_data):
    folder = shared_data / "maze" / "maze_hard_train_1k"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return np.load(folder / "all__inputs.npy"), np.load(folder / "all__labels.npy")


def test_label_reproduces_every_official_label(shared_data):
    inputs, labels = _official(shared_data)
    ours, status = label_tokens(inputs)
    assert not status.any()
    assert np.array_equal(ours, labels)  # all 1,000, token for token
    # The string API agrees on a few.
    for x, y in zip(decode(inputs[:3]), decode(labels[:3]), strict=True):
        assert label(x) == y and len(y) == 900


def test_label_follows_the_neighbour_order_tie_break():
    assert label(OPEN_3X3) == OPEN_3X3_LABEL
    # Mirrored left-right, col-1 now points toward G and comes before col+1: down first still, then left.
    assert label("  S" + " " * 3 + "G  ") == "  S" + "  o" + "Goo"


@pytest.mark.parametrize(
    ("maze", "message"),
    [
        (" " * 8 + "G", "no start"),
        ("S" + " " * 8, "no goal"),
        ("S#" + "#" * 6 + "G", "no path"),  # walls cut S off
        ("SS" + " " * 6 + "G", "more than one start"),
        ("S" + "." * 7 + "G", r"characters \['\.'\]"),
        ("S" + " " * 6 + "G", "not a square"),
        ("S" + " " * 6 + "GG", "more than one goal"),
    ],
)
def test_label_rejects_unsolvable_mazes_with_a_clear_message(maze, message):
    with pytest.raises(ValueError, match=message):
        label(maze)


def test_valid_optimal_path_accepts_any_shortest_path_and_nothing_else():
    assert valid_optimal_path(OPEN_3X3, OPEN_3X3_LABEL)
    other_shortest = "Soo" + "  o" + "  G"
    assert valid_optimal_path(OPEN_3X3, other_shortest)
    assert not exact_match(other_shortest, OPEN_3X3_LABEL)  # valid but not the reference's label
    assert not valid_optimal_path(OPEN_3X3, "Soo" + "o o" + "ooG")  # a loop: too many cells
    assert not valid_optimal_path(OPEN_3X3, "S  " + "   " + " oG")  # too few cells, disconnected
    assert not valid_optimal_path(OPEN_3X3, "S o" + "o  " + "o G")  # right count, disconnected
    assert not valid_optimal_path(OPEN_3X3, OPEN_3X3)  # no path at all
    walled = "S# " + "   " + "  G"
    assert not valid_optimal_path(walled, "So " + "oo " + " oG")  # crosses the wall; right length otherwise
    # A connected S-G path that is longer than the shortest one.
    corridor = "S   " + "### " + "G   " + "    "  # shortest: 3 right, 2 down, 3 left = 8 moves
    assert valid_optimal_path(corridor, "Sooo" + "###o" + "Gooo" + "    ")
    assert not valid_optimal_path(corridor, "Sooo" + "###o" + "G  o" + "oooo")  # round row 3: 10 moves


def test_valid_optimal_path_is_vectorised_over_a_batch(shared_data):
    inputs, labels = _official(shared_data)
    assert valid_optimal_path(inputs, labels).all()
    broken = labels.copy()
    broken[:10][broken[:10] == 5] = 2  # erase the path of the first ten
    ok = valid_optimal_path(inputs, broken)
    assert not ok[:10].any() and ok[10:].all()
    assert exact_match(labels, labels).all() and not exact_match(broken, labels)[:10].any()
    assert path_moves(labels).min() >= 109


def test_dihedral_transforms_form_the_group_d4():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(3, 5, 5))
    images = [dihedral(x, t) for t in range(8)]
    assert len({im.tobytes() for im in images}) == 8  # all distinct on a generic grid
    assert np.array_equal(images[0], x)  # 0 is the identity
    for a in range(8):
        inv = dihedral_inverse(a)
        assert np.array_equal(dihedral(dihedral(x, a), inv), x)
        for b in range(8):
            c = dihedral_compose(a, b)
            assert np.array_equal(dihedral(dihedral(x, b), a), dihedral(x, c))  # closure, table is right


def test_dihedral_images_of_labels_stay_valid_shortest_paths(shared_data):
    inputs, labels = _official(shared_data)
    inputs, labels = inputs[:100], labels[:100]
    for t in range(8):
        assert valid_optimal_path(dihedral_tokens(inputs, t), dihedral_tokens(labels, t)).all()


def test_canonical_layout_is_shared_exactly_by_dihedral_images():
    rng = np.random.default_rng(1)
    walls = rng.random((20, 9, 9)) < 0.4
    keys = canonical_layouts(walls)
    assert len(set(keys)) == 20
    for t in range(8):
        assert canonical_layouts(dihedral(walls, t)) == keys


def test_encode_decode_round_trip():
    rows = encode([OPEN_3X3, OPEN_3X3_LABEL])
    assert rows.tolist()[0] == [3, 2, 2, 2, 2, 2, 2, 2, 4]
    assert decode(rows) == [OPEN_3X3, OPEN_3X3_LABEL]


def test_endpoint_eccentricity_measures_how_far_each_end_can_reach():
    # 3x3: S top-left, G centre; the farthest cell from S is the bottom-right corner (4 moves), from G any
    # corner (2 moves). Walled apart: no S-G distance (-1), each end reaches only itself.
    got = endpoint_eccentricity(encode(["S   G    ", "S#G######"]))
    assert got.tolist() == [[2, 4, 2], [-1, 0, 0]]
