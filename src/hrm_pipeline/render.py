"""Pictures of puzzles: puzzle | label | prediction | difference as one PNG, for sudoku, maze and ARC.

Every picture has the same pixel size (``FIGSIZE_IN`` x ``DPI``), whatever the family, so a gallery lines
up and a test can check it. Label or prediction may be missing (a user's puzzle may have no known answer):
their panels say so.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window (servers, CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from hrm_pipeline.atomic import atomic_write
from hrm_pipeline.data.arc.encode import COLOUR_OFFSET, DecodeError  # noqa: E402
from hrm_pipeline.data.arc.encode import decode as arc_decode  # noqa: E402
from hrm_pipeline.data.maze import grid as maze_grid  # noqa: E402
from hrm_pipeline.data.storage import DatasetMeta  # noqa: E402
from hrm_pipeline.puzzles import MazeCodec, SudokuCodec, codec_for  # noqa: E402

FIGSIZE_IN = (9.6, 2.8)  # four square panels and their titles
DPI = 100
PIXELS = (int(FIGSIZE_IN[0] * DPI), int(FIGSIZE_IN[1] * DPI))  # (width, height) of every PNG
PANELS = ("puzzle", "label", "prediction", "difference")

# The ARC colours 0-9 as every ARC viewer draws them (black, blue, red, green, yellow, grey, magenta,
# orange, azure, maroon).
ARC_PALETTE = (
    "#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00",
    "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25",
)  # fmt: skip
MAZE_COLOURS = {  # token -> colour
    maze_grid.PAD: "#bbbbbb",
    maze_grid.WALL: "#222222",
    maze_grid.FREE: "#ffffff",
    maze_grid.START: "#2ca02c",
    maze_grid.GOAL: "#d62728",
    maze_grid.PATH: "#1f77b4",
}
RIGHT, WRONG, MISSED, SAME = "#9be39b", "#ff6b6b", "#ffb347", "#ffffff"  # difference-panel colours
GIVEN_INK, FILLED_INK, WRONG_INK = "#000000", "#1f5fbf", "#d62728"


def render_item(
    path: str | Path,
    meta: DatasetMeta,
    inputs: np.ndarray,
    labels: np.ndarray | None,
    prediction: np.ndarray | None,
    *,
    title: str = "",
) -> Path:
    """Write one PNG of ``PIXELS`` size: the puzzle, its label, the prediction and where they differ."""
    codec = codec_for(meta)
    fig, axes = plt.subplots(1, len(PANELS), figsize=FIGSIZE_IN, dpi=DPI)
    try:
        for ax, name in zip(axes, PANELS, strict=True):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=9)
        draw = {"sudoku": _sudoku, "maze": _maze, "arc": _arc}[codec.family]
        draw(axes, codec, np.asarray(inputs), _opt(labels), _opt(prediction))
        if title:
            fig.suptitle(title, fontsize=10)
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.82 if title else 0.9, wspace=0.08)
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def _opt(tokens: np.ndarray | None) -> np.ndarray | None:
    return None if tokens is None else np.asarray(tokens)


def _save(fig, path: Path) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))


def _missing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, color="#666666", transform=ax.transAxes)


def _square(ax, size: int) -> None:
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.set_aspect("equal")


# ---- sudoku ---------------------------------------------------------------------------------------------


def _sudoku(axes, codec: SudokuCodec, inputs, labels, pred) -> None:
    n = codec.shape.n
    givens = codec.digits(inputs).reshape(n, n)
    label = None if labels is None else codec.digits(labels).reshape(n, n)
    guess = None if pred is None else codec.digits(pred).reshape(n, n)
    _sudoku_board(axes[0], codec, givens, givens, None)
    if label is None:
        _missing(axes[1], "no label")
    else:
        _sudoku_board(axes[1], codec, label, givens, None)
    if guess is None:
        _missing(axes[2], "no prediction")
    else:
        _sudoku_board(axes[2], codec, guess, givens, label)
    if label is None or guess is None:
        _missing(axes[3], "nothing to compare")
        return
    colours = np.where(givens > 0, SAME, np.where(guess == label, RIGHT, WRONG))
    _sudoku_board(axes[3], codec, np.zeros_like(givens), givens, None, fill=colours)


def _sudoku_board(ax, codec: SudokuCodec, digits, givens, label, fill=None) -> None:
    n, br, bc = codec.shape.n, codec.shape.box_rows, codec.shape.box_cols
    _square(ax, n)
    if fill is not None:
        for r in range(n):
            for c in range(n):
                ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, color=fill[r, c], lw=0))
    for k in range(n + 1):
        thick = 1.6 if k % bc == 0 else 0.4
        ax.axvline(k - 0.5, color="black", lw=thick)
        thick = 1.6 if k % br == 0 else 0.4
        ax.axhline(k - 0.5, color="black", lw=thick)
    size = 90 / n  # font points that fill a cell of a ~2.3 inch panel
    for r in range(n):
        for c in range(n):
            d = int(digits[r, c])
            if d == 0:
                continue
            ink = GIVEN_INK if givens[r, c] else FILLED_INK
            if label is not None and not givens[r, c] and d != label[r, c]:
                ink = WRONG_INK
            ax.text(c, r, str(d), ha="center", va="center", fontsize=size, color=ink)


# ---- maze -----------------------------------------------------------------------------------------------

_MAZE_CMAP = ListedColormap([MAZE_COLOURS[t] for t in sorted(MAZE_COLOURS)])


def _maze(axes, codec: MazeCodec, inputs, labels, pred) -> None:
    s = codec.size

    def show(ax, tokens):
        grid = np.clip(np.asarray(tokens).reshape(s, s), 0, len(MAZE_COLOURS) - 1)
        ax.imshow(grid, cmap=_MAZE_CMAP, vmin=0, vmax=len(MAZE_COLOURS) - 1, interpolation="nearest")

    show(axes[0], inputs)
    for ax, tokens, text in ((axes[1], labels, "no label"), (axes[2], pred, "no prediction")):
        if tokens is None:
            _missing(ax, text)
        else:
            show(ax, tokens)
    if labels is None or pred is None:
        _missing(axes[3], "nothing to compare")
        return
    on_label, on_pred = labels.reshape(s, s) == maze_grid.PATH, pred.reshape(s, s) == maze_grid.PATH
    diff = np.full((s, s, 3), 1.0)
    diff[inputs.reshape(s, s) == maze_grid.WALL] = 0.85  # walls faint, for orientation
    diff[on_label & on_pred] = _rgb(RIGHT)
    diff[on_pred & ~on_label] = _rgb(WRONG)  # path where the label has none
    diff[on_label & ~on_pred] = _rgb(MISSED)  # label path the prediction left out
    axes[3].imshow(diff, interpolation="nearest")


def _rgb(colour: str) -> np.ndarray:
    return np.array(matplotlib.colors.to_rgb(colour))


# ---- ARC ------------------------------------------------------------------------------------------------

_ARC_CMAP = ListedColormap(ARC_PALETTE)


def _arc_grid(tokens: np.ndarray | None, origin: tuple[int, int] | None = None) -> np.ndarray | None:
    if tokens is None:
        return None
    try:
        return arc_decode(tokens, origin=origin)
    except DecodeError:
        return None


def _arc(axes, codec, inputs, labels, pred) -> None:
    del codec  # ARC grids carry their own size
    grid_in = _arc_grid(inputs)
    want = _arc_grid(labels)
    # The prediction is read where the label's grid starts (its translation), else at the input's.
    anchor = labels if labels is not None else inputs
    cells = np.flatnonzero(np.asarray(anchor) >= COLOUR_OFFSET)
    origin = divmod(int(cells[0]), 30) if cells.size else (0, 0)
    got = _arc_grid(pred, origin) if pred is not None else None

    def show(ax, grid, text):
        if grid is None:
            _missing(ax, text)
            return
        ax.imshow(grid, cmap=_ARC_CMAP, vmin=0, vmax=9, interpolation="nearest")
        h, w = grid.shape
        ax.set_xticks(np.arange(-0.5, w), minor=True)
        ax.set_yticks(np.arange(-0.5, h), minor=True)
        ax.grid(which="minor", color="#555555", lw=0.3)
        ax.tick_params(which="minor", length=0)

    show(axes[0], grid_in, "no grid")
    show(axes[1], want, "no label")
    show(axes[2], got, "no grid predicted" if pred is not None else "no prediction")
    if want is None or got is None:
        _missing(axes[3], "nothing to compare")
    elif want.shape != got.shape:
        _missing(axes[3], f"shape {got.shape[0]}x{got.shape[1]}\nexpected {want.shape[0]}x{want.shape[1]}")
    else:
        axes[3].imshow(np.where((want == got)[..., None], _rgb(RIGHT), _rgb(WRONG)), interpolation="nearest")
