"""Maze grids: tokens, BFS distances, the official shortest-path labeller, path checks, dihedral transforms.

A maze is a square grid flattened row-major into ``size * size`` tokens (``# SGo`` = 1..5, 0 = pad). Every
function here works on a batch of token rows (numba kernels) and has a string convenience wrapper.
"""

from __future__ import annotations

import math

import numba
import numpy as np

CHARS = "# SGo"
PAD, WALL, FREE, START, GOAL, PATH = 0, 1, 2, 3, 4, 5
VOCAB_SIZE = len(CHARS) + 1  # the five symbols plus pad

# Labeller status codes (numba kernels cannot raise with a message; the wrappers turn these into ValueErrors).
OK, NO_START, NO_GOAL, MANY_START, MANY_GOAL, NO_PATH = 0, 1, 2, 3, 4, 5
_STATUS_TEXT = {
    NO_START: "no start cell 'S'",
    NO_GOAL: "no goal cell 'G'",
    MANY_START: "more than one start cell 'S'",
    MANY_GOAL: "more than one goal cell 'G'",
    NO_PATH: "no path from 'S' to 'G'",
}
UNREACHED = -1

_ENCODE = np.zeros(256, dtype=np.uint8)  # unknown characters map to pad and fail the checks downstream
for _i, _c in enumerate(CHARS):
    _ENCODE[ord(_c)] = _i + 1
_DECODE = np.frombuffer(("?" + CHARS).encode(), dtype=np.uint8)


def grid_size(seq_len: int) -> int:
    size = math.isqrt(seq_len)
    if size * size != seq_len:
        raise ValueError(f"a maze row has size*size tokens; {seq_len} is not a square")
    return size


def encode(mazes: str | list[str]) -> np.ndarray:
    """Strings over ``# SGo`` -> (N, L) uint8 tokens (one string -> (1, L))."""
    items = [mazes] if isinstance(mazes, str) else list(mazes)
    if not items:
        return np.zeros((0, 0), dtype=np.uint8)
    lengths = {len(s) for s in items}
    if len(lengths) != 1:
        raise ValueError(f"mazes have different lengths: {sorted(lengths)}")
    raw = np.frombuffer("".join(items).encode("latin-1"), dtype=np.uint8)
    return _ENCODE[raw].reshape(len(items), -1)


def decode(tokens: np.ndarray) -> list[str]:
    """(N, L) tokens -> strings; pad (or any out-of-range token) shows as '?'."""
    tokens = np.atleast_2d(np.asarray(tokens))
    safe = np.where(tokens < len(_DECODE), tokens, 0).astype(np.intp)
    return [row.tobytes().decode() for row in _DECODE[safe]]


@numba.njit(cache=True, inline="always")
def neighbour(cell: int, k: int, size: int) -> int:
    """The k-th neighbour of ``cell`` in the official tie-break order (row+1), (col-1), (col+1), (row-1);
    -1 off the grid."""
    r, c = cell // size, cell % size
    if k == 0:
        return cell + size if r + 1 < size else -1
    if k == 1:
        return cell - 1 if c > 0 else -1
    if k == 2:
        return cell + 1 if c + 1 < size else -1
    return cell - size if r > 0 else -1


@numba.njit(cache=True)
def _bfs(passable: np.ndarray, size: int, src: int, dist: np.ndarray, queue: np.ndarray) -> int:
    """Fill ``dist`` with 4-neighbour BFS distances from ``src`` over passable cells.

    Returns how many cells were reached; ``queue[:count]`` holds them in BFS order (the last is a farthest).
    """
    dist[:] = UNREACHED
    dist[src] = 0
    queue[0] = src
    head, tail = 0, 1
    while head < tail:
        cell = queue[head]
        head += 1
        d = dist[cell] + 1
        for k in range(4):
            nxt = neighbour(cell, k, size)
            if nxt >= 0 and passable[nxt] and dist[nxt] == UNREACHED:
                dist[nxt] = d
                queue[tail] = nxt
                tail += 1
    return tail


@numba.njit(cache=True)
def _find_ends(row: np.ndarray) -> tuple[int, int, int]:
    """(start, goal, status) of one token row."""
    start, goal = -1, -1
    for i in range(row.shape[0]):
        if row[i] == START:
            if start >= 0:
                return start, goal, MANY_START
            start = i
        elif row[i] == GOAL:
            if goal >= 0:
                return start, goal, MANY_GOAL
            goal = i
    if start < 0:
        return start, goal, NO_START
    if goal < 0:
        return start, goal, NO_GOAL
    return start, goal, OK


@numba.njit(cache=True)
def _label_kernel(inputs: np.ndarray, size: int, labels: np.ndarray, status: np.ndarray) -> None:
    n_cells = size * size
    dist = np.empty(n_cells, dtype=np.int32)
    queue = np.empty(n_cells, dtype=np.int32)
    for b in range(inputs.shape[0]):
        row = inputs[b]
        labels[b] = row
        start, goal, st = _find_ends(row)
        status[b] = st
        if st != OK:
            continue
        passable = row != WALL
        # Distances to G; the official tie-break walks from S to the first neighbour one step closer.
        _bfs(passable, size, goal, dist, queue)
        if dist[start] == UNREACHED:
            status[b] = NO_PATH
            continue
        cell = start
        while cell != goal:
            want = dist[cell] - 1
            for k in range(4):  # the first neighbour one step closer, in the official order
                nxt = neighbour(cell, k, size)
                if nxt >= 0 and dist[nxt] == want:
                    cell = nxt
                    break
            if cell != goal:
                labels[b, cell] = PATH


def label_tokens(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label a batch: (N, L) input tokens -> (labels, status); status 0 = ok, else a ``_STATUS_TEXT`` code."""
    inputs = np.ascontiguousarray(np.atleast_2d(inputs), dtype=np.uint8)
    labels = np.empty_like(inputs)
    status = np.empty(inputs.shape[0], dtype=np.int8)
    _label_kernel(inputs, grid_size(inputs.shape[1]), labels, status)
    return labels, status


@numba.njit(cache=True)
def _eccentricity_kernel(inputs: np.ndarray, size: int, out: np.ndarray) -> None:
    n_cells = size * size
    dist = np.empty(n_cells, dtype=np.int32)
    queue = np.empty(n_cells, dtype=np.int32)
    for b in range(inputs.shape[0]):
        start, goal, status = _find_ends(inputs[b])
        out[b, :] = UNREACHED
        if status != OK:
            continue
        passable = inputs[b] != WALL
        count = _bfs(passable, size, start, dist, queue)
        out[b, 0] = dist[goal]
        out[b, 1] = dist[queue[count - 1]]
        count = _bfs(passable, size, goal, dist, queue)
        out[b, 2] = dist[queue[count - 1]]


def endpoint_eccentricity(inputs: np.ndarray) -> np.ndarray:
    """(N, L) input tokens -> (N, 3) int: S-G moves, BFS eccentricity of S, of G (the farthest reachable cell;
    moves -1 where G is out of reach, all -1 where S or G is missing). Eccentricity / moves = 1 when the other
    end is the farthest cell S (G) can reach."""
    inputs = np.ascontiguousarray(np.atleast_2d(inputs), dtype=np.uint8)
    out = np.empty((inputs.shape[0], 3), dtype=np.int32)
    _eccentricity_kernel(inputs, grid_size(inputs.shape[1]), out)
    return out


def status_text(code: int) -> str:
    return _STATUS_TEXT.get(int(code), "ok")


def label(maze: str) -> str:
    """The official label of one maze: its tie-break shortest path from S to G marked with ``o``.

    Raises ValueError when the maze has no S, no G, several of either, or no path between them.
    """
    tokens = encode(maze)
    if np.any(tokens == PAD):
        bad = sorted({ch for ch in maze if ch not in CHARS})
        raise ValueError(f"cannot label maze: characters {bad} are not in {CHARS!r}")
    labels, status = label_tokens(tokens)
    if status[0] != OK:
        raise ValueError(f"cannot label maze: {status_text(status[0])}")
    return decode(labels)[0]


@numba.njit(cache=True)
def _valid_path_kernel(inputs: np.ndarray, preds: np.ndarray, size: int, out: np.ndarray) -> None:
    n_cells = size * size
    dist = np.empty(n_cells, dtype=np.int32)
    queue = np.empty(n_cells, dtype=np.int32)
    for b in range(inputs.shape[0]):
        out[b] = False
        row = inputs[b]
        start, goal, st = _find_ends(row)
        if st != OK:
            continue
        _bfs(row != WALL, size, goal, dist, queue)
        shortest = dist[start]
        if shortest == UNREACHED:
            continue
        # Path set = predicted 'o' cells plus S and G; every one must be free in the input.
        on_path = (preds[b] == PATH) & (row != START) & (row != GOAL)
        if np.any(on_path & (row != FREE)):
            continue
        on_path[start] = True
        on_path[goal] = True
        # A connected set holding S and G with exactly shortest+1 cells is a shortest path (any S-G walk
        # inside it needs shortest+1 distinct cells, so it uses them all).
        if on_path.sum() != shortest + 1:
            continue
        reached = _bfs(on_path, size, start, dist, queue)
        out[b] = dist[goal] != UNREACHED and reached == shortest + 1


def valid_optimal_path(maze_input: np.ndarray | str | list[str], pred: np.ndarray | str | list[str]):
    """The paper's criterion: pred's ``o`` cells plus S and G form a connected S->G path of free cells whose
    length equals the BFS shortest distance.

    Token batches (N, L) -> bool array (N,); a string pair -> bool.
    """
    single = isinstance(maze_input, str)
    inputs = encode(maze_input) if isinstance(maze_input, (str, list)) else np.atleast_2d(maze_input)
    preds = encode(pred) if isinstance(pred, (str, list)) else np.atleast_2d(pred)
    if inputs.shape != preds.shape:
        raise ValueError(f"input and prediction shapes differ: {inputs.shape} vs {preds.shape}")
    inputs = np.ascontiguousarray(inputs, dtype=np.uint8)
    preds = np.ascontiguousarray(preds, dtype=np.uint8)
    out = np.empty(inputs.shape[0], dtype=np.bool_)
    _valid_path_kernel(inputs, preds, grid_size(inputs.shape[1]), out)
    return bool(out[0]) if single else out


def exact_match(pred: np.ndarray | str | list[str], label: np.ndarray | str | list[str]):
    """The reference code's metric: every token right. Batches -> bool array (N,); a string pair -> bool."""
    if isinstance(pred, str) and isinstance(label, str):
        return pred == label
    p = encode(pred) if isinstance(pred, list) else np.atleast_2d(pred)
    t = encode(label) if isinstance(label, list) else np.atleast_2d(label)
    if p.shape != t.shape:
        raise ValueError(f"prediction and label shapes differ: {p.shape} vs {t.shape}")
    return np.all(p == t, axis=1)


def path_moves(labels: np.ndarray) -> np.ndarray:
    """Moves of each labelled path: its ``o`` cells plus one (the step into G)."""
    return (np.atleast_2d(labels) == PATH).sum(axis=1) + 1


# --- dihedral group D4 on the last two axes ------------------------------------------------------------
# Transform id t = 4*f + k: flip the columns if f, then rotate k quarter turns (np.rot90 convention).
NUM_DIHEDRAL = 8


def dihedral(grids: np.ndarray, tid: int) -> np.ndarray:
    """Apply transform ``tid`` (0 = identity, 1..3 rotations, 4..7 flip then rotate) to (..., n, n)."""
    if not 0 <= tid < NUM_DIHEDRAL:
        raise ValueError(f"dihedral transform id must be in 0..7, got {tid}")
    out = np.flip(grids, axis=-1) if tid >= 4 else grids
    return np.ascontiguousarray(np.rot90(out, k=tid % 4, axes=(-2, -1)))


def dihedral_compose(a: int, b: int) -> int:
    """The id of ``dihedral(dihedral(x, b), a)`` (apply b first, then a)."""
    ka, fa = a % 4, a // 4
    kb, fb = b % 4, b // 4
    # A flip conjugates a rotation into its inverse: F R^k = R^-k F.
    k = (kb + ka) % 4 if fa == 0 else (ka - kb) % 4
    return 4 * (fa ^ fb) + k


def dihedral_inverse(tid: int) -> int:
    return next(t for t in range(NUM_DIHEDRAL) if dihedral_compose(t, tid) == 0)


def dihedral_tokens(rows: np.ndarray, tid: int) -> np.ndarray:
    """Apply a dihedral transform to (N, size*size) token rows."""
    size = grid_size(rows.shape[-1])
    return dihedral(rows.reshape(-1, size, size), tid).reshape(rows.shape[0], -1)


def canonical_layouts(walls: np.ndarray) -> list[bytes]:
    """Per maze, the least (bytewise) packed wall bitmap over its 8 dihedral images: equal iff the wall
    layouts are dihedral images of each other. ``walls``: (N, n, n) bool."""
    images = np.stack(
        [np.packbits(dihedral(walls, t).reshape(walls.shape[0], -1), axis=1) for t in range(NUM_DIHEDRAL)]
    )  # (8, N, bytes)
    return [min(images[t, i].tobytes() for t in range(NUM_DIHEDRAL)) for i in range(walls.shape[0])]
