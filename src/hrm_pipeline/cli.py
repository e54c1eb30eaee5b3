"""The ``hrm`` command: entry points only; every step is a function of :mod:`hrm_pipeline.stages`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hrm_pipeline import __version__
from hrm_pipeline.data.catalog import DATASETS

EXIT_INVALID_DATA = 1  # validation failed: the data is wrong, the command was right
EXIT_FAILED = 1  # the run itself failed (e.g. training diverged past every allowed restore)
EXIT_USAGE = 2  # the user's input (arguments, params, paths) is wrong


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params", default="params.yaml", metavar="FILE", help="parameters file (default: params.yaml)"
    )
    parser.add_argument(
        "-S",
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter, e.g. -S sudoku.num_aug=10 (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _family(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "family",
        nargs="?",
        choices=DATASETS,
        help="which family's model (default: pipeline.dataset); its settings are the shared sections of "
        "params.yaml with families.<family> merged in",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrm",
        description=(
            "Reproducible data-to-model pipeline for the Hierarchical Reasoning Model. "
            "Each command is one pipeline step; `dvc repro` runs them in order."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hrm-pipeline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser(
        "generate",
        help="build a dataset (generate or import, augment) into data/<name>",
        description="Build a dataset from its params.yaml section and write it atomically to data/<name>.",
    )
    gen.add_argument("dataset", choices=DATASETS)
    _common(gen)

    val = sub.add_parser(
        "validate",
        help="check a dataset against its schema and for train/test leakage",
        description=(
            "Validate data/<name> with its Pandera schema (semantic checks included) and check that no test "
            "puzzle is equivalent to a train puzzle. Exits 1 with a report of the first failing rows."
        ),
    )
    val.add_argument("dataset", choices=DATASETS)
    _common(val)

    tr = sub.add_parser(
        "train",
        help="train a family's HRM on its validated dataset",
        description="Train on data/<family> (refused unless it passed `hrm validate`); resumes from the last "
        "checkpoint in runs/<family>; curves in reports/<family>/train.",
    )
    _family(tr)
    _common(tr)

    ev = sub.add_parser(
        "evaluate",
        help="score the trained model on the test split: metrics.json, plots, HTML report",
        description="Run runs/<family>/model.pt on the validated test split and write "
        "reports/<family>/metrics.json (exact and token accuracy, mean ACT steps, accuracy at 1x/2x/4x the "
        "trained segments, participation ratio of z_H and z_L; Sudoku accuracy per rating bucket, Maze "
        "valid-optimal path rate, ARC pass@1/pass@2 after voting over the augmented variants) and "
        "reports/<family>/eval (CSV tables, PNG plots, report.html). Settings: the evaluate section of "
        "params.yaml with families.<family>.evaluate merged in.",
    )
    _family(ev)
    _common(ev)

    reg = sub.add_parser(
        "register",
        help="register the trained model in MLflow and point alias 'challenger' at it",
        description="Log runs/<family>/model.pt as an MLflow pyfunc model into its training run, "
        "register a version of the model named by registry.model_name (hrm-<family>; tagged with the git "
        "commit, the DVC data hash and the metrics of reports/<family>/metrics.json), set alias "
        "'challenger', write reports/<family>/registry.json. The store: params tracking.uri (local SQLite) "
        "or MLFLOW_TRACKING_URI.",
    )
    _family(reg)
    _common(reg)

    pro = sub.add_parser(
        "promote",
        help="move alias 'champion' to the challenger if it beats the champion (or --rollback)",
        description="Compare the 'challenger' and 'champion' versions on registry.gate_metric; move "
        "'champion' only when the challenger is better by registry.margin (and by more than 0). A first "
        "model becomes champion. Each family has its own champion. Writes reports/<family>/promotion.json. "
        'Load the champion with mlflow.pyfunc.load_model("models:/<name>@champion").',
    )
    pro.add_argument(
        "--mode",
        choices=("disabled", "dry-run", "enabled"),
        help="disabled: do nothing; dry-run: decide and report, move nothing; enabled: move aliases "
        "(default: registry.mode)",
    )
    pro.add_argument(
        "--rollback", action="store_true", help="move the family's 'champion' back to the version it replaced"
    )
    _family(pro)
    _common(pro)

    prof = sub.add_parser(
        "profile",
        help="switch to a recipe in profiles/ (e.g. paper-sudoku): print dvc exp run args or --write",
        description="Print a profile's keys as `-S key=value` arguments for "
        "`dvc exp run $(hrm profile NAME)`, "
        "or merge them into params.yaml with --write. The result is type-checked first.",
    )
    prof.add_argument("profile", metavar="NAME", help="a profile in profiles/ (or a YAML file path)")
    prof.add_argument("--write", action="store_true", help="merge the profile into the params file")
    prof.add_argument(
        "--params", default="params.yaml", metavar="FILE", help="parameters file (default: params.yaml)"
    )

    data = sub.add_parser(
        "data",
        help="list the data versions recorded in git (dvc.lock) or roll the datasets back to one",
        description="Data versions are the dataset stages of dvc.lock at each git commit; their bytes live "
        "in the DVC cache and remote. Run from the repository root.",
    )
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    versions = data_sub.add_parser(
        "versions",
        help="list data versions: commit, tags, data hash, validation status, params",
        description="List each commit at which a dataset changed (oldest first), with its DVC hash, "
        "validation status and the params that changed, plus uncommitted changes.",
    )
    versions.add_argument("--json", action="store_true", help="print every field as JSON")
    rollback = data_sub.add_parser(
        "rollback",
        help="restore the datasets of a git revision from the DVC cache or remote",
        description="Restore the datasets recorded at REV (a commit, tag or branch): their dvc.lock entries, "
        "their params.yaml sections and their bytes (from the cache, else pulled from the DVC remote). The "
        "next `dvc repro` or training flow then trains on them without regenerating.",
    )
    rollback.add_argument("rev", metavar="REV", help="git revision whose data to restore")
    rollback.add_argument(
        "--dataset", action="append", choices=DATASETS, help="only this dataset (repeatable)"
    )
    for p in (versions, rollback):
        p.set_defaults(params="params.yaml")

    from hrm_pipeline import solving  # argparse only: keeps `hrm --help` fast

    solving.add_parser(sub, _common)
    return parser


def _run_generate(args: argparse.Namespace, params) -> None:
    from hrm_pipeline import stages

    out = stages.generate(params, args.dataset, progress=not args.no_progress)
    print(f"wrote {out}")


def _run_validate(args: argparse.Namespace, params) -> None:
    from hrm_pipeline import stages

    report = stages.validate(params, args.dataset)
    rows = ", ".join(f"{k} {v}" for k, v in report.rows.items())
    print(f"{args.dataset}: valid ({rows} rows, {report.rows_per_second:,.0f} rows/s)")


def _run_train(args: argparse.Namespace, params) -> None:
    from hrm_pipeline import stages

    result = stages.train(params, progress=not args.no_progress)
    line = f"trained to step {result.steps_done}/{result.total_steps} in {result.wall_s:.0f} s"
    if result.final_eval is not None:
        ev = result.final_eval
        line += (
            f"; test ({ev.num_examples} puzzles): exact {ev.exact_accuracy:.3f}, token {ev.accuracy:.3f},"
            f" steps {ev.mean_steps:.1f}"
        )
    print(line)


def _run_evaluate(args: argparse.Namespace, params) -> None:
    from hrm_pipeline import stages

    result = stages.evaluate(params, progress=not args.no_progress)
    m = result.metrics
    line = (
        f"evaluated {m['num_examples']:.0f} {params.pipeline.dataset} test examples: "
        f"exact {m['exact_accuracy']:.3f}, token {m['token_accuracy']:.3f}, "
        f"ACT steps {m['act.mean_steps']:.2f}"
    )
    if "arc.pass_at_2" in m:
        line += f", pass@1 {m.get('arc.pass_at_1', float('nan')):.3f}, pass@2 {m['arc.pass_at_2']:.3f}"
    if "maze.valid_optimal_rate" in m:
        line += f", valid-optimal {m['maze.valid_optimal_rate']:.3f}"
    reports = params.paths.reports_dir
    print(f"{line}; wrote {reports}/metrics.json and {reports}/eval")


def _run_register(args: argparse.Namespace, params) -> None:
    from hrm_pipeline import stages

    reg = stages.register(params)
    gate = params.registry.gate_metric
    print(
        f"registered {reg.model_name} version {reg.version} (alias challenger, {gate} "
        f"{reg.tags.get('metric.' + gate)}, commit {reg.tags['git_commit'][:10]})"
    )


def _run_promote(args: argparse.Namespace, params) -> None:
    from hrm_pipeline import stages

    rec = stages.promote(params, mode=args.mode, rollback=args.rollback)
    champion = rec.get("champion_after")
    where = f"; champion is version {champion}" if champion else ""
    print(f"{rec['model_name']}: {rec['action']} ({rec['reason']}){where}")


def _run_profile(args: argparse.Namespace, params) -> None:
    from pathlib import Path

    from hrm_pipeline import profiles

    path = profiles.profile_path(args.profile)
    if args.write:
        profiles.write_profile(Path(args.params), path)
        print(f"merged {path} into {args.params}")
    else:
        overrides = profiles.check_profile(Path(args.params), path)
        print(" ".join(f"-S {o}" for o in profiles.dvc_set_args(Path(args.params), overrides)))


def _run_data(args: argparse.Namespace, params) -> None:
    import json
    from dataclasses import asdict

    from hrm_pipeline import data_versions

    if args.data_command == "versions":
        found = data_versions.list_versions()
        if args.json:
            print(json.dumps([asdict(v) for v in found], indent=2))
        else:
            print(data_versions.format_versions(found) or "no data versions recorded in dvc.lock yet")
        return
    result = data_versions.rollback(args.rev, datasets=args.dataset)
    source = "the DVC remote" if result.pulled else "the DVC cache"
    print(f"restored {', '.join(result.datasets)} of {result.rev} from {source}; `dvc repro` trains on them")


def _run_solve(args: argparse.Namespace, params) -> None:
    from hrm_pipeline import solving

    solving.run(args, params)


COMMANDS: dict[str, Callable[[argparse.Namespace, object], None]] = {
    "generate": _run_generate,
    "validate": _run_validate,
    "train": _run_train,
    "evaluate": _run_evaluate,
    "register": _run_register,
    "promote": _run_promote,
    "profile": _run_profile,
    "data": _run_data,
    "solve": _run_solve,
}


# Commands that train nothing may run outside the project folder (defaults: the local store, data/).
PARAMS_OPTIONAL = frozenset({"solve", "data"})
FAMILY_COMMANDS = ("train", "evaluate", "register", "promote")  # each works on one family's view of params


def dispatch(argv: list[str]) -> None:
    """Parse ``argv`` (without the program name) and run the command; errors propagate as exceptions.

    ``main`` maps them to one line and an exit code; the Prefect flows call this with the ``cmd`` of each
    dvc.yaml stage, so a stage runs the same call from both (flows/stage_tasks.py).
    """
    from hrm_pipeline.config import ConfigError, load_params

    args = build_parser().parse_args(argv)
    if _names_params(argv) and not Path(args.params).is_file():  # only the default may be absent
        raise ConfigError(f"no params file at {args.params}")
    params = load_params(
        args.params, getattr(args, "overrides", []), missing_ok=args.command in PARAMS_OPTIONAL
    )
    if args.command in FAMILY_COMMANDS:
        params = params.for_family(args.family or params.pipeline.dataset)
    COMMANDS[args.command](args, params)


def _names_params(argv: list[str]) -> bool:
    return any(a == "--params" or a.startswith("--params=") for a in argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    build_parser().parse_args(argv)  # --help, --version and usage errors exit here, before slow imports
    # Imported here so `hrm --help` stays fast (torch and pandera take seconds to import).
    from hrm_pipeline.config import ConfigError
    from hrm_pipeline.data.schema import ValidationFailed
    from hrm_pipeline.errors import InputError
    from hrm_pipeline.train.loop import TrainingDiverged

    try:
        dispatch(argv)
    except ConfigError as err:
        print(f"hrm: config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationFailed as err:
        print(f"hrm: {err}", file=sys.stderr)
        return EXIT_INVALID_DATA
    except (InputError, FileNotFoundError) as err:
        print(f"hrm: {err}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingDiverged as err:
        print(f"hrm: training diverged: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("hrm: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
