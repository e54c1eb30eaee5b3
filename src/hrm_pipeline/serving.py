"""A trained HRM as an MLflow pyfunc model: puzzle text in, checked solution out.

The registry logs :class:`HRMPuzzleModel` with the artifacts of :func:`model_artifacts`; ``mlflow models
serve`` answers REST calls with it, and `hrm solve` reaches the same object through
``mlflow.pyfunc.load_model(uri).unwrap_python_model()`` (or :meth:`HRMPuzzleModel.from_files` for a local
checkpoint), so the command line and the server share one code path.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from tqdm import tqdm

from hrm_pipeline.atomic import write_json
from hrm_pipeline.data.storage import DatasetMeta, read_meta
from hrm_pipeline.errors import InputError
from hrm_pipeline.puzzles import Answer, Codec, Puzzle, arc_task_variants, codec_for

HALT_DEFAULT = "q"  # a user's puzzle stops where the Q-head says halt (inference.HALT_MODES)
BATCH_SIZE = 64  # rows per forward: small enough for a CPU request, and one progress tick per batch
ARC_TASKS_FILE = "arc_tasks.json"
INPUT_COLUMN = "puzzle"
OUTPUT_COLUMNS = ("solution", "steps", "valid")
DISTRIBUTION = "hrm-pipeline"


class HRMPuzzleModel(mlflow.pyfunc.PythonModel):
    """Solves puzzles of the family the model was trained on (from the ``meta`` artifact).

    Artifacts: ``model`` (model.pt), ``meta`` (the dataset's metadata.json), optional ``arc_tasks`` (task
    id -> puzzle identifier, for ARC models; see :func:`model_artifacts`).
    """

    def __init__(self) -> None:
        self.predictor = None
        self.codec: Codec | None = None
        self.meta: DatasetMeta | None = None

    # -- loading --------------------------------------------------------------------------------------------

    def load_context(self, context) -> None:
        arts = context.artifacts
        tasks = arts.get("arc_tasks")
        self._load(arts["model"], arts["meta"], json.loads(Path(tasks).read_text()) if tasks else None)

    @classmethod
    def from_files(
        cls, model_path: str | Path, meta_path: str | Path, arc_tasks: dict[str, list] | None = None
    ) -> HRMPuzzleModel:
        """The model of a local ``model.pt`` / ``checkpoint.pt`` and its dataset's ``metadata.json``
        (ARC: ``arc_tasks`` from :func:`arc_task_variants` lets it recognise its training tasks)."""
        obj = cls()
        obj._load(model_path, meta_path, arc_tasks)
        return obj

    def _load(self, model_path, meta_path, arc_tasks: dict[str, list] | None) -> None:
        from hrm_pipeline.inference import Predictor  # torch import deferred to load time

        model_path, meta_path = Path(model_path), Path(meta_path)
        if not model_path.is_file():
            raise InputError(f"no model file at {model_path}")
        if not meta_path.is_file():
            raise InputError(f"no dataset metadata at {meta_path}")
        try:
            self.meta = DatasetMeta.from_json(json.loads(meta_path.read_text()))
        except (json.JSONDecodeError, KeyError) as err:
            raise InputError(f"{meta_path} is not a dataset metadata.json ({err})") from None
        self.codec = codec_for(self.meta, arc_tasks)
        device = os.environ.get("HRM_DEVICE") or ("cuda" if _cuda_available() else "cpu")
        try:
            self.predictor = Predictor.from_file(model_path, device=device)
        except Exception as err:  # torch.load / state-dict errors: a wrong or damaged file
            raise InputError(f"cannot load model {model_path}: {str(err).splitlines()[0]}") from None
        cfg = self.predictor.config
        if (cfg.seq_len, cfg.vocab_size) != (self.meta.seq_len, self.meta.vocab_size):
            raise InputError(
                f"model ({cfg.seq_len} tokens, vocab {cfg.vocab_size}) does not fit the {self.meta.dataset} "
                f"data of {meta_path} ({self.meta.seq_len} tokens, vocab {self.meta.vocab_size})"
            )

    @property
    def family(self) -> str:
        return self.meta.dataset if self.meta else ""

    @property
    def trained_steps(self) -> int:
        return int(self.predictor.config.halt_max_steps)

    # -- solving --------------------------------------------------------------------------------------------

    def parse(self, text: str, *, task_id: str = "") -> list[Puzzle]:
        """The puzzles in one user text (InputError when malformed)."""
        return self.codec.parse(text, task_id=task_id)

    def solve(
        self,
        puzzles: list[Puzzle],
        *,
        max_steps: int | None = None,
        halt: str = HALT_DEFAULT,
        progress: bool = False,
    ) -> list[Answer]:
        """Run the model on parsed puzzles; every answer is checked by the dataset's solver / labeller."""
        if max_steps is not None and max_steps < 1:
            raise InputError(f"max steps must be at least 1, got {max_steps}")
        answers: list[Answer] = []
        bar = tqdm(total=len(puzzles), desc="solving", unit="puzzle", disable=not progress)
        for start in range(0, len(puzzles), BATCH_SIZE):
            chunk = puzzles[start : start + BATCH_SIZE]
            # A puzzle may run as several rows (an ARC task's augmented variants, which then vote).
            rows = [self.codec.model_rows(p) for p in chunk]
            flat = [r for per in rows for r in per]
            pred = self.predictor.predict(
                np.stack([tokens for tokens, _ in flat]),
                np.array([ident for _, ident in flat], dtype=np.int64),
                max_steps=max_steps,
                halt=halt,
                batch_size=BATCH_SIZE,
            )
            at = 0
            for p, per in zip(chunk, rows, strict=True):
                part = slice(at, at + len(per))
                at += len(per)
                tokens, steps = self.codec.combine(p, pred.tokens[part], pred.steps[part], pred.q_halt[part])
                answers.append(self.codec.answer(p, tokens, steps))
            bar.update(len(chunk))
        bar.close()
        return answers

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """One row per puzzle text (column ``puzzle``) -> columns ``solution``, ``steps``, ``valid``.

        Params: ``max_steps`` (0 or absent: the trained budget), ``halt`` ("q" or "max"). A row holding
        several puzzles (an ARC task's test inputs) answers with their joined solutions, the most steps and
        ``valid`` only when all are valid (an unknown ARC answer counts as not valid).
        """
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        params = params or {}
        max_steps = int(params.get("max_steps") or 0) or None
        halt = str(params.get("halt") or HALT_DEFAULT)
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if INPUT_COLUMN not in frame.columns:
            raise MlflowException(f"input needs a {INPUT_COLUMN!r} column", INVALID_PARAMETER_VALUE)
        try:
            per_row = [self.parse(str(text)) for text in frame[INPUT_COLUMN]]
            flat = [p for row in per_row for p in row]
            answers = iter(self.solve(flat, max_steps=max_steps, halt=halt))
        except (InputError, ValueError) as err:  # bad puzzles or params are the caller's, not a crash
            raise MlflowException(str(err), INVALID_PARAMETER_VALUE) from None
        rows = []
        for row in per_row:
            got = [next(answers) for _ in row]
            rows.append(
                {
                    "solution": got[0].text if len(got) == 1 else self.codec.join([a.text for a in got]),
                    "steps": max(a.steps for a in got),
                    "valid": all(bool(a.valid) for a in got),
                }
            )
        return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS)).astype({"steps": "int64", "valid": "bool"})


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ---- what the registry logs ------------------------------------------------------------------------------


def model_artifacts(model_path: str | Path, data_dir: str | Path, work_dir: str | Path) -> dict[str, str]:
    """The pyfunc artifacts of a trained model: ``model`` and ``meta``, plus ``arc_tasks`` for an ARC model
    (written into ``work_dir``, which must outlive the logging call)."""
    data_dir = Path(data_dir)
    arts = {"model": str(model_path), "meta": str(data_dir / "metadata.json")}
    if read_meta(data_dir).dataset == "arc":
        path = Path(work_dir) / ARC_TASKS_FILE
        write_json(path, arc_task_variants(data_dir))
        arts["arc_tasks"] = str(path)
    return arts


def signature():
    """Input ``puzzle`` (string) -> ``solution`` (string), ``steps`` (long), ``valid`` (bool); params
    ``max_steps`` (0 = the trained budget) and ``halt``."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", INPUT_COLUMN)]),
        outputs=Schema(
            [ColSpec("string", "solution"), ColSpec("long", "steps"), ColSpec("boolean", "valid")]
        ),
        params=ParamSchema([ParamSpec("max_steps", "long", 0), ParamSpec("halt", "string", HALT_DEFAULT)]),
    )


def input_example(meta: DatasetMeta) -> pd.DataFrame:
    """A one-row input in the family's user format (MLflow shows it and runs it once when logging):
    an all-blank sudoku, an open maze from corner to corner, a one-cell ARC task."""
    if meta.dataset == "sudoku":
        text = "." * meta.seq_len
    elif meta.dataset == "maze":
        size = math.isqrt(meta.seq_len)
        text = "S" + " " * (meta.seq_len - 2) + "G"
        text = "\n".join(text[i : i + size] for i in range(0, meta.seq_len, size))
    else:
        text = json.dumps({"train": [], "test": [{"input": [[0]]}]})
    return pd.DataFrame({INPUT_COLUMN: [text]})


def pip_requirements() -> list[str]:
    """Exact pins of what the logged model runs on. Listed, not inferred: MLflow's inference re-imports the
    model in a subprocess (~10 s per logged model) for the same answer. hrm-pipeline itself installs from this
    repository (`pip install -e .`)."""
    import torch

    from hrm_pipeline import __version__

    return [
        f"{DISTRIBUTION}=={__version__}",
        f"mlflow=={importlib.metadata.version('mlflow')}",
        f"torch=={torch.__version__.split('+')[0]}",
    ]


def pyfunc_kwargs(model_path: str | Path, data_dir: str | Path, work_dir: str | Path) -> dict[str, Any]:
    """Everything ``mlflow.pyfunc.log_model`` / ``save_model`` needs for a trained model, e.g.
    ``mlflow.pyfunc.log_model(name="model", registered_model_name=..., **pyfunc_kwargs(...))``."""
    return {
        "python_model": HRMPuzzleModel(),
        "artifacts": model_artifacts(model_path, data_dir, work_dir),
        "signature": signature(),
        "input_example": input_example(read_meta(Path(data_dir))),
        "pip_requirements": pip_requirements(),
    }
