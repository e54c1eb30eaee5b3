"""ARC grids <-> token sequences on a fixed 30x30 canvas (the reference's layout, for import/export).

Tokens: 0 = pad (outside the grid), 1 = end marker, colours 0..9 -> 2..11. A grid of h x w placed at
(r, c) fills canvas[r:r+h, c:c+w]; the end markers are the row below it (canvas[r+h, c:c+w]) and the column
right of it (canvas[r:r+h, c+w]), each written only where it fits inside the canvas, without the corner
cell (as the reference does). A grid touching the canvas edge therefore ends at the edge instead.
"""

from __future__ import annotations

import numpy as np

CANVAS = 30  # ARC grids are at most 30x30 (the task format's limit)
SEQ_LEN = CANVAS * CANVAS
PAD_TOKEN = 0
END_TOKEN = 1
COLOUR_OFFSET = 2  # colour k is token k + 2
NUM_COLOURS = 10
VOCAB_SIZE = COLOUR_OFFSET + NUM_COLOURS


class GridTooLarge(ValueError):
    """A grid (at its offset) does not fit on the canvas."""


class DecodeError(ValueError):
    """A token sequence holds no grid."""


def check_grid(grid: np.ndarray) -> None:
    """Raise ValueError unless ``grid`` is a non-empty 2-D array of colours 0..9 fitting the canvas."""
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"an ARC grid must be a non-empty 2-D array, got shape {grid.shape}")
    if grid.min() < 0 or grid.max() >= NUM_COLOURS:
        raise ValueError(f"ARC colours must be 0..{NUM_COLOURS - 1}, got {grid.min()}..{grid.max()}")
    if grid.shape[0] > CANVAS or grid.shape[1] > CANVAS:
        raise GridTooLarge(f"grid {grid.shape[0]}x{grid.shape[1]} exceeds the {CANVAS}x{CANVAS} canvas")


def encode(grid: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A colour grid as a flat (900,) uint8 token canvas, its top-left cell at ``offset``."""
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    encode_into(canvas, np.asarray(grid), offset)
    return canvas.reshape(SEQ_LEN)


def encode_into(canvas: np.ndarray, grid: np.ndarray, offset: tuple[int, int]) -> None:
    """Write ``grid`` and its end markers into a zeroed (30, 30) ``canvas`` (the builder's fast path)."""
    h, w = grid.shape
    r, c = offset
    if r < 0 or c < 0 or r + h > CANVAS or c + w > CANVAS:
        raise GridTooLarge(f"grid {h}x{w} at offset ({r}, {c}) does not fit the {CANVAS}x{CANVAS} canvas")
    canvas[r : r + h, c : c + w] = grid + COLOUR_OFFSET
    if r + h < CANVAS:
        canvas[r + h, c : c + w] = END_TOKEN
    if c + w < CANVAS:
        canvas[r : r + h, c + w] = END_TOKEN


def decode(tokens: np.ndarray, origin: tuple[int, int] | None = None) -> np.ndarray:
    """The colour grid on a token canvas (flat (900,) or (30, 30)).

    ``origin`` is the grid's top-left cell (a row's ``offset_row``/``offset_col``); by default the first
    colour cell in reading order. From there the grid is cropped at the markers: each row's run of colour
    tokens (never wider than the rows above) until a row without one, keeping the largest rectangle. On a
    well-formed canvas that is exactly the grid; on a model's prediction it is a best effort, like the
    reference's crop.
    """
    canvas = np.asarray(tokens).reshape(CANVAS, CANVAS)
    is_colour = canvas >= COLOUR_OFFSET
    if origin is None:
        cells = np.flatnonzero(is_colour)
        if cells.size == 0:
            raise DecodeError("the canvas holds no colour token")
        origin = divmod(int(cells[0]), CANVAS)
    r0, c0 = origin
    best, best_shape, width = 0, (0, 0), CANVAS - c0
    for r in range(r0, CANVAS):
        run = is_colour[r, c0 : c0 + width]
        width = int(run.argmin()) if not run.all() else width
        if width == 0:
            break
        area = (r - r0 + 1) * width
        if area > best:
            best, best_shape = area, (r - r0 + 1, width)
    if best == 0:
        raise DecodeError(f"no colour token at the grid origin {origin}")
    h, w = best_shape
    return (canvas[r0 : r0 + h, c0 : c0 + w] - COLOUR_OFFSET).astype(np.uint8)


def canvas_valid(tokens: np.ndarray) -> np.ndarray:
    """Per row of an (N, 900) token matrix: True where it is exactly one grid plus its end markers.

    Checks every cell: colour tokens form one non-empty rectangle, 1s sit exactly on its end-marker row and
    column (where they fit), and everything else is pad.
    """
    n = tokens.shape[0]
    grid = tokens.reshape(n, CANVAS, CANVAS)
    colour = grid >= COLOUR_OFFSET
    bounds = grid_bounds(tokens)
    r0, r1, c0, c1 = (bounds[:, i, None] for i in range(4))  # each (N, 1)
    idx = np.arange(CANVAS)[None, :]
    in_r = (idx >= r0) & (idx < r1)  # (N, 30)
    in_c = (idx >= c0) & (idx < c1)
    expect_colour = in_r[:, :, None] & in_c[:, None, :]  # (N, 30, 30)
    expect_end = ((idx == r1)[:, :, None] & in_c[:, None, :]) | (in_r[:, :, None] & (idx == c1)[:, None, :])
    ok = (colour == expect_colour).all(axis=(1, 2))
    ok &= ((grid == END_TOKEN) == expect_end).all(axis=(1, 2))
    ok &= grid.max(axis=(1, 2)) < VOCAB_SIZE
    ok &= r1[:, 0] > r0[:, 0]  # a grid is never empty
    return ok


def grid_bounds(tokens: np.ndarray) -> np.ndarray:
    """(N, 4) int array [row0, row1, col0, col1) of the colour tokens' bounding box; zeros if none."""
    n = tokens.shape[0]
    colour = tokens.reshape(n, CANVAS, CANVAS) >= COLOUR_OFFSET
    rows, cols = colour.any(axis=2), colour.any(axis=1)
    r0 = rows.argmax(axis=1)
    r1 = CANVAS - rows[:, ::-1].argmax(axis=1)
    c0 = cols.argmax(axis=1)
    c1 = CANVAS - cols[:, ::-1].argmax(axis=1)
    empty = ~rows.any(axis=1)
    out = np.stack([r0, r1, c0, c1], axis=1)
    out[empty] = 0
    return out
