"""`hrm solve`: load a trained model (the registry's champion or a local checkpoint), solve the user's
puzzles, print each board with its ACT steps and whether the answer checks out.

Only argparse and the standard library are imported at module level: `hrm --help` must stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from hrm_pipeline.data.catalog import DATASETS

HALT_CHOICES = ("q", "max")
SQLITE = "sqlite:///"

EXAMPLES = """\
examples:
  hrm solve sudoku 12.4.64.6.23.3.56.5.42.1.12.4.64.3.2         # 6x6 (CPU profile); 9x9 has 81 characters
  hrm solve sudoku puzzles.txt --checkpoint runs/sudoku/model.pt # one puzzle per line
  hrm solve maze maze.txt --out maze.png                        # 30 lines of '#', ' ', 'S', 'G'
  hrm solve arc task.json --json                                # {"train": [...], "test": [{"input": ...}]}
  hrm solve sudoku PUZZLE --max-steps 16                        # more ACT segments than trained (scaling)

The answer is always checked: sudoku by the solver's rules (each digit once per row, column and box, givens
kept), maze by the BFS labeller (a shortest S->G path), ARC against the task's test output when the file has
one. Exit code 0 whether or not the answer is valid; 2 for bad input or a missing model.
"""

CHECKS = {
    "sudoku": "each digit once per row, column and box, givens kept",
    "maze": "a shortest path from S to G",
    "arc": "equals the task's test output",
}


def add_parser(sub, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "solve",
        help="solve a sudoku, maze or ARC task with a trained model",
        description="Solve puzzles with a trained HRM: the registry's champion (default) or a local "
        "checkpoint. Prints each answer, the ACT steps it took and whether it is a valid solution.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("family", choices=DATASETS, help="which kind of puzzle")
    p.add_argument(
        "puzzle",
        metavar="PUZZLE",
        help="sudoku: the puzzle ('.' or '0' for blanks) or a file with one per line; maze: a text file; "
        "arc: a task JSON file; '-' reads standard input",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--checkpoint", metavar="PATH", help="a local model.pt or checkpoint.pt written by `hrm train`"
    )
    src.add_argument(
        "--model-uri",
        metavar="URI",
        help="MLflow model to load (default: the family's champion, models:/hrm-<family>@champion)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="with --checkpoint: the model's dataset folder, whose metadata.json gives the board size "
        "(default: <paths.data_dir>/<family>)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        help="at most N ACT segments (default: the trained halt_max_steps; more = inference-time scaling)",
    )
    p.add_argument(
        "--halt",
        choices=HALT_CHOICES,
        default="q",
        help="q: stop where the model's Q-head says halt (default); max: always run --max-steps segments",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of boards")
    p.add_argument(
        "--out",
        metavar="PNG",
        help="also draw puzzle | reference | prediction | difference into this PNG "
        "(several puzzles: NAME-1.png, NAME-2.png, ...)",
    )
    common(p)


def run(args: argparse.Namespace, params) -> None:
    from hrm_pipeline.errors import InputError

    if args.max_steps is not None and args.max_steps < 1:
        raise InputError(f"--max-steps must be at least 1, got {args.max_steps}")
    text, task_id = _read_input(args.puzzle, args.family)
    if args.checkpoint:
        model, puzzles = _from_checkpoint(args, params, text, task_id)
        source = str(args.checkpoint)
    else:
        model, source = _from_registry(args, params)
        if model.family != args.family:
            raise InputError(f"{source} solves {model.family} puzzles, not {args.family}")
        puzzles = model.parse(text, task_id=task_id)
    progress = not args.no_progress and len(puzzles) > 1
    answers = model.solve(puzzles, max_steps=args.max_steps, halt=args.halt, progress=progress)
    budget = args.max_steps or model.trained_steps
    pngs = _draw(args.out, model, answers) if args.out else [None] * len(answers)
    if args.json:
        out = {
            "family": model.family,
            "model": source,
            "max_steps": budget,
            "halt": args.halt,
            "answers": [
                {
                    **a.to_json(),
                    "puzzle": model.codec.answer_text(a.puzzle.inputs),
                    **({"png": str(png)} if png else {}),
                }
                for a, png in zip(answers, pngs, strict=True)
            ],
        }
        print(json.dumps(out, indent=2))
        return
    for i, (a, png) in enumerate(zip(answers, pngs, strict=True)):
        if i:
            print()
        if a.puzzle.name:
            print(f"{a.puzzle.name}:")
        print(a.board)
        print(f"ACT steps: {a.steps} (of at most {budget}, halt={args.halt})")
        print(f"valid: {_verdict(a.valid)} ({CHECKS[model.family]})")
        if a.puzzle.note:
            print(f"note: {a.puzzle.note}")
        if png:
            print(f"picture: {png}")


def _verdict(valid: bool | None) -> str:
    return "unknown (the task gives no test output)" if valid is None else ("yes" if valid else "NO")


def _read_input(arg: str, family: str) -> tuple[str, str]:
    """(text, task id) of the PUZZLE argument: stdin, a file, or (sudoku) the puzzle itself."""
    from hrm_pipeline.errors import InputError

    if arg == "-":
        return sys.stdin.read(), ""
    path = Path(arg)
    if path.is_file():
        try:
            return path.read_text(), path.stem
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read {arg}: {err}") from None
    if path.is_dir():
        raise InputError(f"{arg} is a folder; give a puzzle file")
    looks_like_file = "/" in arg or path.suffix[1:].isalpha()
    if family == "sudoku" and not looks_like_file:
        return arg, ""
    raise InputError(f"no such file: {arg}")


def _from_checkpoint(args: argparse.Namespace, params, text: str, task_id: str):
    """(HRMPuzzleModel, puzzles) of a local checkpoint; the puzzles are read before the model loads, so bad
    input is refused at once."""
    from hrm_pipeline.data.storage import read_meta
    from hrm_pipeline.errors import InputError
    from hrm_pipeline.puzzles import arc_task_variants, codec_for

    data_dir = Path(args.data) if args.data else params.dataset_dir(args.family)
    if not Path(args.checkpoint).is_file():
        raise InputError(f"no model file at {args.checkpoint}")
    if not (data_dir / "metadata.json").is_file():
        raise InputError(
            f"no dataset metadata at {data_dir / 'metadata.json'}: the board size comes from the model's "
            "dataset (--data DIR)"
        )
    meta = read_meta(data_dir)
    if meta.dataset != args.family:
        raise InputError(f"{args.checkpoint} solves {meta.dataset} puzzles, not {args.family}")
    ids = None
    if args.family == "arc" and (data_dir / "train.parquet").is_file():
        ids = arc_task_variants(data_dir)
    puzzles = codec_for(meta, ids).parse(text, task_id=task_id)

    from hrm_pipeline.serving import HRMPuzzleModel

    return HRMPuzzleModel.from_files(args.checkpoint, data_dir / "metadata.json", ids), puzzles


def _from_registry(args: argparse.Namespace, params):
    """(HRMPuzzleModel, URI) through ``mlflow.pyfunc.load_model``: what `mlflow models serve` runs too."""
    import mlflow.pyfunc

    from hrm_pipeline.errors import InputError
    from hrm_pipeline.serving import HRMPuzzleModel
    from hrm_pipeline.tracking.connection import bounded_requests, first_line, resolve_uri, use_store
    from hrm_pipeline.tracking.registry import champion_uri

    # The family's own champion (hrm-<family>, with its families.<family>.registry overrides).
    uri = args.model_uri or champion_uri(params.for_family(args.family))
    store = resolve_uri(params.tracking)
    hint = (
        f"`dvc repro` trains and registers one (or `hrm train|evaluate|register|promote {args.family}`), or "
        f"pass --checkpoint runs/{args.family}/model.pt"
    )
    local_db = Path(store.removeprefix(SQLITE)) if store.startswith(SQLITE) else None
    # A registry URI against a local store that does not exist yet: say so instead of creating an empty one.
    if uri.startswith("models:/") and local_db is not None and not local_db.is_file():
        raise InputError(f"cannot load model {uri}: no MLflow store at {local_db} ({hint})")
    # The registry follows the tracking URI; setting a registry URI too would outlive this call in-process.
    use_store(store)
    try:
        with bounded_requests(params.tracking):
            loaded = mlflow.pyfunc.load_model(uri)
    except InputError:
        raise
    except Exception as err:  # not registered, no such alias, store unreachable: all "no model"
        raise InputError(f"cannot load model {uri} from {store}: {first_line(err)} ({hint})") from None
    model = loaded.unwrap_python_model()
    if not isinstance(model, HRMPuzzleModel):
        raise InputError(f"{uri} is not an HRM puzzle model (it is a {type(model).__name__})")
    return model, uri


def _draw(out: str, model, answers) -> list[Path]:
    from hrm_pipeline.render import render_item

    base = Path(out)
    if base.suffix.lower() != ".png":
        base = base.with_name(base.name + ".png")
    paths = []
    for i, a in enumerate(answers):
        path = base if len(answers) == 1 else base.with_name(f"{base.stem}-{i + 1}{base.suffix}")
        verdict = {True: "valid", False: "not valid", None: "unchecked"}[a.valid]
        title = f"{a.puzzle.name + ': ' if a.puzzle.name else ''}{verdict}, {a.steps} ACT steps"
        paths.append(render_item(path, model.meta, a.puzzle.inputs, a.puzzle.expected, a.tokens, title=title))
    return paths
