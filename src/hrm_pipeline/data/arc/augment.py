"""ARC augmentations and their inverses: 8 dihedral transforms x colour permutations x canvas translation.

A variant of a task applies one dihedral transform and one colour permutation to every grid of the task
(so the rule it asks for stays the same rule); translation is drawn per input/output pair. Black (colour 0)
is never permuted: it is the background in most tasks, as in the reference.

Dihedral ids (the reference's numbering, so predictions can be exchanged): 0 identity, 1-3 rotate 90/180/270
degrees counter-clockwise, 4 flip left-right, 5 flip up-down, 6 transpose, 7 anti-transpose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hrm_pipeline.data.arc.encode import CANVAS, NUM_COLOURS, decode

NUM_DIHEDRAL = 8
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)  # rotations invert each other; reflections are involutions
IDENTITY_PERM = np.arange(NUM_COLOURS, dtype=np.uint8)
# Candidate draws per wanted variant before giving up: tasks with few colours and symmetric grids have few
# distinct variants (one colour, symmetric: 9), and a bounded search keeps the build time predictable.
DRAWS_PER_VARIANT = 5


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Dihedral transform ``k`` (0..7) of a 2-D array."""
    if k == 0:
        return grid
    if k in (1, 2, 3):
        return np.rot90(grid, k)
    if k == 4:
        return np.fliplr(grid)
    if k == 5:
        return np.flipud(grid)
    if k == 6:
        return grid.T
    if k == 7:
        return np.fliplr(np.rot90(grid, 1))
    raise ValueError(f"dihedral id must be 0..{NUM_DIHEDRAL - 1}, got {k}")


@dataclass(frozen=True)
class Augmentation:
    """How a row's grids were made from the original: ``perm[dihedral(grid)]`` placed at the offset."""

    dihedral: int = 0
    colour_perm: tuple[int, ...] = tuple(range(NUM_COLOURS))  # colour_perm[c] = new colour of colour c
    offset_row: int = 0
    offset_col: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Augmentation:
        """From a table row (``df.row(i, named=True)``) or any mapping with the same fields."""
        return cls(
            dihedral=int(row["dihedral"]),
            colour_perm=tuple(int(x) for x in row["colour_perm"]),
            offset_row=int(row.get("offset_row", 0)),
            offset_col=int(row.get("offset_col", 0)),
        )

    def apply(self, grid: np.ndarray) -> np.ndarray:
        """The augmented colour grid (the offset applies on encoding, not here)."""
        perm = np.asarray(self.colour_perm, dtype=np.uint8)
        return np.ascontiguousarray(perm[dihedral(np.asarray(grid), self.dihedral)])

    def invert_grid(self, grid: np.ndarray) -> np.ndarray:
        """The original colour grid from an augmented one."""
        inverse = np.argsort(np.asarray(self.colour_perm)).astype(np.uint8)
        return np.ascontiguousarray(inverse[dihedral(np.asarray(grid), DIHEDRAL_INVERSE[self.dihedral])])


def invert(grid_or_tokens: np.ndarray, row: Mapping[str, Any] | Augmentation) -> np.ndarray:
    """Map a prediction back to the original task's frame.

    ``grid_or_tokens``: a flat (900,) token sequence (as in the tables' ``inputs``/``labels``, or a model's
    prediction), cropped at the row's offset; or an already decoded 2-D colour grid in the augmented frame.
    ``row``: the table row (mapping with ``dihedral``, ``colour_perm``, ``offset_row``, ``offset_col``).
    """
    aug = row if isinstance(row, Augmentation) else Augmentation.from_row(row)
    arr = np.asarray(grid_or_tokens)
    if arr.ndim == 1:
        if arr.size != CANVAS * CANVAS:
            raise ValueError(f"a token sequence has {CANVAS * CANVAS} tokens, got {arr.size}")
        arr = decode(arr, origin=(aug.offset_row, aug.offset_col))
    return aug.invert_grid(arr)


def random_augmentation(rng: np.random.Generator) -> Augmentation:
    k = int(rng.integers(NUM_DIHEDRAL))
    perm = np.concatenate([[0], rng.permutation(np.arange(1, NUM_COLOURS))])
    return Augmentation(dihedral=k, colour_perm=tuple(int(x) for x in perm))


def grids_digest(grids: Sequence[np.ndarray]) -> bytes:
    """Exact identity of a sequence of grids (shapes and colours)."""
    digest = hashlib.blake2b(digest_size=16)
    for g in grids:
        digest.update(np.asarray(g.shape, dtype=np.int16).tobytes())
        digest.update(np.ascontiguousarray(g, dtype=np.uint8).tobytes())
    return digest.digest()


def draw_variants(
    grids: Sequence[np.ndarray], num_variants: int, rng: np.random.Generator
) -> list[tuple[Augmentation, list[np.ndarray]]]:
    """Up to ``num_variants`` augmentations of a task whose augmented grids all differ, identity first.

    ``grids``: every grid of the task (inputs and outputs, demonstrations and tests). Two draws giving the
    same grids (a colour the task never uses, a symmetric grid) count once. Returns each kept augmentation
    with its augmented grids, in draw order; fewer than asked when the task has no more distinct variants
    within ``DRAWS_PER_VARIANT * num_variants`` draws.
    """
    identity = Augmentation()
    kept = [(identity, [np.ascontiguousarray(g, dtype=np.uint8) for g in grids])]
    seen = {grids_digest(kept[0][1])}
    for _ in range(DRAWS_PER_VARIANT * num_variants):
        if len(kept) >= num_variants:
            break
        aug = random_augmentation(rng)
        out = [aug.apply(g) for g in grids]
        key = grids_digest(out)
        if key not in seen:
            seen.add(key)
            kept.append((aug, out))
    return kept[:num_variants]


def random_offset(shape: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    """A uniform top-left cell at which a grid of ``shape`` (the pair's larger extent) fits the canvas."""
    h, w = shape
    return int(rng.integers(CANVAS - h + 1)), int(rng.integers(CANVAS - w + 1))
