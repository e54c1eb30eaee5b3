"""ARC canvas encoding and augmentations: every transform is exactly undone, every variant is distinct."""

import numpy as np
import pytest

from hrm_pipeline.data.arc import Augmentation, GridTooLarge, decode, dihedral, draw_variants, encode, invert
from hrm_pipeline.data.arc.augment import DIHEDRAL_INVERSE, NUM_DIHEDRAL, random_augmentation, random_offset
from hrm_pipeline.data.arc.encode import CANVAS, END_TOKEN, canvas_valid


def _random_grid(rng: np.random.Generator, max_side: int = CANVAS) -> np.ndarray:
    h, w = rng.integers(1, max_side + 1, size=2)
    return rng.integers(0, 10, size=(h, w)).astype(np.uint8)


def test_canvas_layout_puts_end_markers_below_and_right_of_the_grid():
    grid = np.array([[0, 1, 2], [3, 4, 9]], dtype=np.uint8)
    canvas = encode(grid, offset=(1, 2)).reshape(CANVAS, CANVAS)
    assert (canvas[1:3, 2:5] == grid + 2).all()
    assert (canvas[3, 2:5] == END_TOKEN).all() and (canvas[1:3, 5] == END_TOKEN).all()
    assert canvas[3, 5] == 0  # no corner marker, as the reference
    assert (canvas > 0).sum() == 6 + 3 + 2


def test_encode_decode_roundtrip_for_random_grids_and_offsets():
    rng = np.random.default_rng(0)
    grids = [_random_grid(rng) for _ in range(200)] + [
        np.zeros((30, 30), np.uint8),
        np.ones((1, 1), np.uint8),
    ]
    for grid in grids:
        offset = random_offset(grid.shape, rng)
        tokens = encode(grid, offset)
        assert canvas_valid(tokens[None])[0]
        np.testing.assert_array_equal(decode(tokens), grid)
        np.testing.assert_array_equal(decode(tokens, origin=offset), grid)


def test_grids_that_do_not_fit_are_refused():
    with pytest.raises(GridTooLarge, match="31x2"):
        encode(np.zeros((31, 2), np.uint8))
    with pytest.raises(GridTooLarge, match="offset"):
        encode(np.zeros((10, 10), np.uint8), offset=(25, 0))


def test_decode_crops_a_noisy_prediction_at_its_markers():
    grid = np.array([[5, 6], [7, 8]], dtype=np.uint8)
    pred = encode(grid).reshape(CANVAS, CANVAS).copy()
    pred[10:, 10:] = 7  # colour noise far outside the markers (pad positions are ignored in training)
    np.testing.assert_array_equal(decode(pred.reshape(-1), origin=(0, 0)), grid)


def test_canvas_check_rejects_broken_canvases():
    good = encode(np.full((3, 4), 2, np.uint8), offset=(2, 2)).reshape(CANVAS, CANVAS)
    holes = good.copy()
    holes[3, 3] = 0  # a pad inside the grid
    stray = good.copy()
    stray[20, 20] = END_TOKEN  # a marker away from the grid
    missing = good.copy()
    missing[5, 2] = 0  # a gap in the end row
    two = good.copy()
    two[20:22, 20:22] = 4  # a second grid
    batch = np.stack([good, holes, stray, missing, two]).reshape(5, -1)
    assert canvas_valid(batch).tolist() == [True, False, False, False, False]


def test_the_eight_dihedral_transforms_are_distinct_and_inverted_by_the_table():
    grid = np.arange(6, dtype=np.uint8).reshape(2, 3)  # no symmetry: all 8 images differ
    images = {dihedral(grid, k).tobytes() + bytes(dihedral(grid, k).shape) for k in range(NUM_DIHEDRAL)}
    assert len(images) == NUM_DIHEDRAL
    for k in range(NUM_DIHEDRAL):
        np.testing.assert_array_equal(dihedral(dihedral(grid, k), DIHEDRAL_INVERSE[k]), grid)


@pytest.mark.parametrize("k", range(NUM_DIHEDRAL))
def test_invert_undoes_every_dihedral_with_random_colours_and_translation(k):
    rng = np.random.default_rng(k)
    for _ in range(30):
        grid = _random_grid(rng, max_side=20)
        perm = random_augmentation(rng).colour_perm
        shape = Augmentation(k, perm).apply(grid).shape
        aug = Augmentation(k, perm, *random_offset(shape, rng))
        tokens = encode(aug.apply(grid), (aug.offset_row, aug.offset_col))
        row = {"dihedral": k, "colour_perm": list(aug.colour_perm), "offset_row": aug.offset_row,
               "offset_col": aug.offset_col}  # fmt: skip
        np.testing.assert_array_equal(invert(tokens, row), grid)  # from the token sequence
        np.testing.assert_array_equal(invert(aug.apply(grid), aug), grid)  # from a decoded grid


def test_variants_are_distinct_start_with_the_identity_and_keep_black():
    rng = np.random.default_rng(1)
    grids = [_random_grid(rng, max_side=6) for _ in range(6)]
    variants = draw_variants(grids, 40, rng)
    assert len(variants) == 40
    assert variants[0][0] == Augmentation()
    keys = {b"".join(g.tobytes() + bytes(g.shape) for g in out) for _, out in variants}
    assert len(keys) == 40
    for aug, out in variants:
        assert aug.colour_perm[0] == 0
        for g, o in zip(grids, out, strict=True):
            np.testing.assert_array_equal(o == 0, dihedral(g, aug.dihedral) == 0)


def test_a_one_colour_symmetric_task_has_only_nine_distinct_variants():
    # Dihedral transforms leave a single cell unchanged; only the colour (9 non-black choices) can vary.
    variants = draw_variants(
        [np.array([[3]], np.uint8), np.array([[3]], np.uint8)], 50, np.random.default_rng(0)
    )
    assert len(variants) == 9
    assert sorted(int(out[0][0, 0]) for _, out in variants) == list(range(1, 10))
