"""Puzzles as people write them: text <-> model tokens, validity checks and readable boards, per family.

One codec per dataset family, built from the dataset's metadata (the board size lives there, e.g. 6x6
sudoku on the CPU profile, 9x9 on the paper profile). Everything a user types goes through ``parse``, which
refuses bad input with an :class:`~hrm_pipeline.errors.InputError` naming the problem; an answer is never
trusted: ``check`` asks the dataset's own solver / labeller.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm_pipeline.data.arc.augment import Augmentation
from hrm_pipeline.data.arc.encode import SEQ_LEN as ARC_SEQ_LEN
from hrm_pipeline.data.arc.encode import DecodeError, check_grid
from hrm_pipeline.data.arc.encode import decode as arc_decode
from hrm_pipeline.data.arc.encode import encode as arc_encode
from hrm_pipeline.data.catalog import DATASETS
from hrm_pipeline.data.maze import grid as maze_grid
from hrm_pipeline.data.storage import DatasetMeta, read_split
from hrm_pipeline.data.sudoku.api import analyse
from hrm_pipeline.data.sudoku.dataset import BLANK_TOKEN, valid_grids
from hrm_pipeline.data.sudoku.solver import Shape
from hrm_pipeline.errors import InputError

SEVERAL_SOLUTIONS = "the givens admit several solutions; any valid one counts"


@dataclass
class Puzzle:
    """One model input made from the user's text."""

    inputs: np.ndarray  # (seq_len,) tokens
    name: str = ""  # where it came from: "line 3", "test input 1"
    puzzle_identifier: int = 0  # blank unless the dataset knows the puzzle (ARC tasks)
    # (seq_len,) label tokens when known: the unique sudoku solution, the maze's labelled shortest path, an
    # ARC task's given test output. Pictures compare with it; validity never depends on it except for ARC.
    expected: np.ndarray | None = None
    note: str = ""  # e.g. "the givens admit several solutions"
    # ARC: the (puzzle identifier, augmentation) views of a task the model trained on; the answer is their
    # vote after inverting each view (the paper's protocol). Empty: the puzzle runs once as it is.
    variants: list[tuple[int, Augmentation]] = field(default_factory=list)


@dataclass
class Answer:
    """The model's answer to one puzzle, checked."""

    puzzle: Puzzle
    tokens: np.ndarray  # (seq_len,) predicted tokens
    steps: int  # ACT segments used
    text: str  # the answer in the family's user format (what the pyfunc model returns)
    board: str  # readable multi-line rendering for a terminal
    valid: bool | None  # None: nothing to check against (an ARC task without its test output)

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.puzzle.name, "solution": self.text, "steps": self.steps, "valid": self.valid}
        if self.puzzle.note:
            out["note"] = self.puzzle.note
        return out


class Codec:
    """Text <-> tokens for one family; subclasses fill the family's rules."""

    family: str = ""
    seq_len: int = 0

    def parse(self, text: str, task_id: str = "") -> list[Puzzle]:
        """All puzzles in ``text`` (a puzzle, a file's content); InputError on anything malformed.

        ``task_id`` names the task for families whose model knows tasks by id (ARC; e.g. the file stem)."""
        raise NotImplementedError

    def answer_text(self, tokens: np.ndarray) -> str:
        raise NotImplementedError

    def board(self, tokens: np.ndarray) -> str:
        raise NotImplementedError

    def check(self, puzzle: Puzzle, tokens: np.ndarray) -> bool | None:
        raise NotImplementedError

    def join(self, texts: list[str]) -> str:
        """Several answers of one request (an ARC task's test inputs) as one text."""
        return "\n".join(texts)

    def model_rows(self, puzzle: Puzzle) -> list[tuple[np.ndarray, int]]:
        """The (tokens, puzzle identifier) rows the model runs for ``puzzle``: the puzzle itself here."""
        return [(puzzle.inputs, puzzle.puzzle_identifier)]

    def combine(
        self, puzzle: Puzzle, tokens: np.ndarray, steps: np.ndarray, q_halt: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """One answer (tokens, steps) from the model's outputs for ``model_rows(puzzle)``."""
        return tokens[0], int(steps[0])

    def answer(self, puzzle: Puzzle, tokens: np.ndarray, steps: int) -> Answer:
        tokens = np.asarray(tokens)
        return Answer(
            puzzle=puzzle,
            tokens=tokens,
            steps=int(steps),
            text=self.answer_text(tokens),
            board=self.board(tokens),
            valid=self.check(puzzle, tokens),
        )


# ---- sudoku ---------------------------------------------------------------------------------------------


class SudokuCodec(Codec):
    """n*n characters in reading order, digits 1..n, '.' or '0' for a blank; a file holds one per line."""

    family = "sudoku"

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.seq_len = shape.cells

    def parse(self, text: str, task_id: str = "") -> list[Puzzle]:
        lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
        lines = [(i, ln) for i, ln in lines if ln and not ln.startswith("#")]
        if not lines:
            raise InputError("no sudoku puzzle given (empty input)")
        many = len(lines) > 1
        return [self._parse_one(ln, f"line {i}" if many else "") for i, ln in lines]

    def _parse_one(self, text: str, where: str) -> Puzzle:
        n, cells = self.shape.n, self.shape.cells
        at = f"{where}: " if where else ""
        allowed = ".0" + "".join(str(d) for d in range(1, n + 1))
        bad = next(((i, ch) for i, ch in enumerate(text) if ch not in allowed), None)
        if bad is not None:
            raise InputError(
                f"{at}bad character {bad[1]!r} at position {bad[0] + 1}: a {n}x{n} sudoku uses digits 1-{n}"
                " and '.' or '0' for blanks"
            )
        if len(text) != cells:
            raise InputError(f"{at}a {n}x{n} sudoku has {cells} characters, got {len(text)}")
        digits = np.array([0 if ch in ".0" else int(ch) for ch in text], dtype=np.int64)
        clash = self._clash(digits)
        if clash:
            raise InputError(f"{at}contradictory givens: {clash}")
        found = analyse(digits, self.shape, limit=2)
        if found.solutions == 0:
            raise InputError(f"{at}contradictory givens: the puzzle has no solution")
        if found.solutions > 1:
            return Puzzle(inputs=digits + BLANK_TOKEN, name=where, note=SEVERAL_SOLUTIONS)
        return Puzzle(inputs=digits + BLANK_TOKEN, name=where, expected=found.solution + BLANK_TOKEN)

    def _clash(self, digits: np.ndarray) -> str:
        """The first unit holding a given digit twice, in words; '' if none."""
        n, br, bc = self.shape.n, self.shape.box_rows, self.shape.box_cols
        g = digits.reshape(n, n)
        units = [(f"row {r + 1}", g[r]) for r in range(n)] + [(f"column {c + 1}", g[:, c]) for c in range(n)]
        for b in range(n):  # n // bc == br boxes per band
            r, c = (b // br) * br, (b % br) * bc
            units.append((f"box {b + 1}", g[r : r + br, c : c + bc].ravel()))
        for name, cells in units:
            counts = np.bincount(cells, minlength=n + 1)[1:]
            if counts.max(initial=0) > 1:
                return f"digit {int(counts.argmax()) + 1} appears twice in {name}"
        return ""

    def digits(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens -> digits, anything that is not a digit token as 0 (blank)."""
        d = np.asarray(tokens, dtype=np.int64) - BLANK_TOKEN
        return np.where((d >= 1) & (d <= self.shape.n), d, 0)

    def answer_text(self, tokens: np.ndarray) -> str:
        return "".join("." if d == 0 else str(int(d)) for d in self.digits(tokens))

    def board(self, tokens: np.ndarray) -> str:
        n, br, bc = self.shape.n, self.shape.box_rows, self.shape.box_cols
        g = self.digits(tokens).reshape(n, n)
        rule = "+".join("-" * (2 * bc + 1) for _ in range(n // bc))
        rows = []
        for r in range(n):
            if r and r % br == 0:
                rows.append(rule)
            boxes = [
                " ".join("." if d == 0 else str(int(d)) for d in g[r, c : c + bc]) for c in range(0, n, bc)
            ]
            rows.append(" " + " | ".join(boxes))
        return "\n".join(rows)

    def check(self, puzzle: Puzzle, tokens: np.ndarray) -> bool:
        """A complete grid, every unit holding each digit once, and every given kept."""
        pred = self.digits(tokens)
        givens = np.asarray(puzzle.inputs, dtype=np.int64) - BLANK_TOKEN
        keeps = bool(np.all((givens == 0) | (givens == pred)))
        return keeps and bool(valid_grids(pred[None, :], self.shape)[0])


# ---- maze -----------------------------------------------------------------------------------------------


class MazeCodec(Codec):
    """A square maze as ``size`` lines over '#' wall, ' ' free, 'S' start, 'G' goal (or one flat line)."""

    family = "maze"
    INPUT_CHARS = "# SG"  # 'o' (path) is what the model adds

    def __init__(self, seq_len: int) -> None:
        self.size = math.isqrt(seq_len)
        if self.size * self.size != seq_len:
            raise InputError(f"maze metadata: seq_len {seq_len} is not a square")
        self.seq_len = seq_len

    def parse(self, text: str, task_id: str = "") -> list[Puzzle]:
        size = self.size
        lines = text.replace("\r\n", "\n").split("\n")
        while lines and lines[-1] == "":  # a file's final newline
            lines.pop()
        if len(lines) == 1 and len(lines[0]) == self.seq_len:
            lines = [lines[0][i : i + size] for i in range(0, self.seq_len, size)]
        if len(lines) != size:
            raise InputError(
                f"a {size}x{size} maze has {size} lines of {size} characters, got {len(lines)} lines"
            )
        for i, ln in enumerate(lines):
            bad = next((ch for ch in ln if ch not in self.INPUT_CHARS), None)
            if bad is not None:
                raise InputError(
                    f"line {i + 1}: bad character {bad!r}: a maze uses '#' (wall), ' ' (free), 'S' and 'G'"
                )
            if len(ln) != size:
                # Free cells are spaces, and editors like to strip trailing ones.
                hint = " (trailing spaces stripped?)" if len(ln) < size else ""
                raise InputError(f"line {i + 1} has {len(ln)} characters, expected {size}{hint}")
        tokens = maze_grid.encode("".join(lines))
        labels, status = maze_grid.label_tokens(tokens)
        if status[0] != maze_grid.OK:
            raise InputError(f"cannot solve this maze: {maze_grid.status_text(status[0])}")
        return [Puzzle(inputs=tokens[0].astype(np.int64), expected=labels[0].astype(np.int64))]

    def answer_text(self, tokens: np.ndarray) -> str:
        flat = maze_grid.decode(np.asarray(tokens))[0]
        return "\n".join(flat[i : i + self.size] for i in range(0, self.seq_len, self.size))

    def board(self, tokens: np.ndarray) -> str:
        # A frame makes the free border cells (spaces) visible in a terminal.
        edge = "+" + "-" * self.size + "+"
        return "\n".join([edge, *(f"|{ln}|" for ln in self.answer_text(tokens).split("\n")), edge])

    def check(self, puzzle: Puzzle, tokens: np.ndarray) -> bool:
        """The paper's criterion: the 'o' cells with S and G form a shortest S->G path of free cells."""
        inputs = np.asarray(puzzle.inputs, dtype=np.uint8)[None, :]
        pred = np.asarray(tokens, dtype=np.uint8)[None, :]
        return bool(maze_grid.valid_optimal_path(inputs, pred)[0])


# ---- ARC ------------------------------------------------------------------------------------------------


class ArcCodec(Codec):
    """An ARC task JSON (``{"train": [...], "test": [{"input": grid, "output"?: grid}]}``), a puzzle per test
    input.

    ``tasks`` (from :func:`arc_task_variants`) lists, per task id the model trained on, its augmented
    variants with their puzzle identifiers: such a task runs in every variant and the inverted answers vote
    (ties by the halting Q-value). An unknown task runs once with the blank identifier and is unlikely to be
    solved: the model learned each task's rule into that task's puzzle embedding.
    """

    family = "arc"
    seq_len = ARC_SEQ_LEN

    def __init__(self, tasks: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.tasks = {
            str(task_id): [(int(v["identifier"]), _augmentation(v)) for v in variants]
            for task_id, variants in (tasks or {}).items()
        }

    def parse(self, text: str, task_id: str = "") -> list[Puzzle]:
        try:
            task = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"an ARC task is JSON; this is not ({err.msg} at line {err.lineno})") from None
        if not isinstance(task, dict) or not isinstance(task.get("test"), list) or not task["test"]:
            raise InputError('an ARC task is a JSON object with a non-empty "test" list')
        task_id = str(task.get("id", task_id))
        variants = self.tasks.get(task_id, [])
        puzzles = []
        for i, pair in enumerate(task["test"]):
            where = f"test input {i + 1}"
            if not isinstance(pair, dict) or "input" not in pair:
                raise InputError(f'{where}: expected an object with an "input" grid')
            grid = self._grid(pair["input"], where)
            expected = pair.get("output")
            puzzles.append(
                Puzzle(
                    inputs=arc_encode(grid).astype(np.int64),
                    name=where,
                    puzzle_identifier=variants[0][0] if variants else 0,
                    expected=None
                    if expected is None
                    else arc_encode(self._grid(expected, f"{where} output")).astype(np.int64),
                    note=f"vote of {len(variants)} variants"
                    if variants
                    else "task unknown to the model (blank puzzle identifier)",
                    variants=list(variants),
                )
            )
        return puzzles

    def model_rows(self, puzzle: Puzzle) -> list[tuple[np.ndarray, int]]:
        if not puzzle.variants:
            return super().model_rows(puzzle)
        grid = arc_decode(puzzle.inputs, origin=(0, 0))
        # Test grids sit at the canvas origin, as in the dataset's test rows (no translation).
        return [(arc_encode(aug.apply(grid)).astype(np.int64), ident) for ident, aug in puzzle.variants]

    def combine(self, puzzle, tokens, steps, q_halt):
        if not puzzle.variants:
            return super().combine(puzzle, tokens, steps, q_halt)
        from hrm_pipeline.data.arc.vote import answer_in_task_frame, vote

        grids = [answer_in_task_frame(t, aug) for t, (_, aug) in zip(tokens, puzzle.variants, strict=True)]
        ranking = vote(grids, q_halt)
        # No variant decoded to a grid: keep the identity view's raw answer (it shows what the model did).
        best = arc_encode(ranking[0].grid).astype(np.int64) if ranking else tokens[0]
        return best, int(np.max(steps))

    @staticmethod
    def _grid(value: Any, where: str) -> np.ndarray:
        try:
            grid = np.asarray(value, dtype=np.int64)
        except (ValueError, TypeError):
            raise InputError(f"{where}: a grid is a list of equally long lists of colours 0-9") from None
        try:
            check_grid(grid)
        except ValueError as err:
            raise InputError(f"{where}: {err}") from None
        return grid

    def grid(self, tokens: np.ndarray) -> np.ndarray | None:
        """The predicted grid at the canvas origin (test grids are placed top-left), None if there is none."""
        try:
            return arc_decode(np.asarray(tokens), origin=(0, 0))
        except DecodeError:
            return None

    def answer_text(self, tokens: np.ndarray) -> str:
        grid = self.grid(tokens)
        return json.dumps([] if grid is None else grid.tolist(), separators=(",", ":"))

    def join(self, texts: list[str]) -> str:
        return "[" + ",".join(texts) + "]"

    def board(self, tokens: np.ndarray) -> str:
        grid = self.grid(tokens)
        if grid is None:
            return "(no grid: the prediction holds no colour at the origin)"
        return "\n".join(" ".join(str(int(c)) for c in row) for row in grid)

    def check(self, puzzle: Puzzle, tokens: np.ndarray) -> bool | None:
        """Right iff the decoded grid equals the given test output; None when the task gives none."""
        if puzzle.expected is None:
            return None
        got, want = self.grid(tokens), self.grid(puzzle.expected)
        return got is not None and want is not None and got.shape == want.shape and bool((got == want).all())


def _augmentation(variant: dict[str, Any]) -> Augmentation:
    return Augmentation(int(variant["dihedral"]), tuple(int(c) for c in variant["colour_perm"]))


def arc_task_variants(data_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Task id -> its variants ``{"identifier", "dihedral", "colour_perm"}`` (identity first), from an ARC
    dataset's train table (every task, evaluation tasks included, has its demonstrations there)."""
    df = read_split(Path(data_dir), "train")
    rows = df.select("task_id", "variant", "puzzle_identifier", "dihedral", "colour_perm")
    rows = rows.unique(["task_id", "variant"]).sort(["task_id", "variant"])
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows.iter_rows(named=True):
        out.setdefault(str(r["task_id"]), []).append(
            {
                "identifier": int(r["puzzle_identifier"]),
                "dihedral": int(r["dihedral"]),
                "colour_perm": [int(c) for c in r["colour_perm"]],
            }
        )
    return out


def codec_for(meta: DatasetMeta, arc_tasks: dict[str, list[dict[str, Any]]] | None = None) -> Codec:
    """The codec of a model's dataset (from its metadata.json)."""
    if meta.dataset == "sudoku":
        extra = meta.extra
        shape = Shape(int(extra.get("box_rows", 3)), int(extra.get("box_cols", 3)))
        if shape.cells != meta.seq_len:
            raise InputError(f"sudoku metadata: {shape.n}x{shape.n} boards but seq_len {meta.seq_len}")
        return SudokuCodec(shape)
    if meta.dataset == "maze":
        return MazeCodec(meta.seq_len)
    if meta.dataset == "arc":
        return ArcCodec(arc_tasks)
    raise InputError(f"no puzzle format for dataset {meta.dataset!r}; expected one of {', '.join(DATASETS)}")
