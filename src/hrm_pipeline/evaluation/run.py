"""The evaluate step: run the trained model on the test split, score it, write metrics, tables, plots, report.

Predictions (one :class:`~hrm_pipeline.inference.Predictor`, every row in every run):
- one run per scaling factor f, each row for f x halt_max_steps segments (the paper's evaluation: a batch
  halts together); the 1x run is the headline and also yields the final z_H / z_L of the participation sample;
- one run at the trained budget where each row stops when its Q-head says halt: the ACT steps a user of
  `hrm solve` sees, and the accuracy at those steps.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from tqdm import tqdm

from hrm_pipeline.atomic import write_json
from hrm_pipeline.data.storage import DatasetMeta, atomic_dir, read_meta, read_split
from hrm_pipeline.errors import InputError
from hrm_pipeline.evaluation import plots
from hrm_pipeline.evaluation.arc_vote import ArcScores, score_arc
from hrm_pipeline.evaluation.config import EvaluateConfig
from hrm_pipeline.evaluation.metrics import (
    Bucket,
    Scores,
    maze_valid_optimal,
    rating_buckets,
    score,
    steps_histogram,
)
from hrm_pipeline.evaluation.outputs import write_csv
from hrm_pipeline.evaluation.participation import participation_ratio
from hrm_pipeline.inference import Prediction, Predictor
from hrm_pipeline.model_io import resolve_device
from hrm_pipeline.nested import finite_numbers

if TYPE_CHECKING:
    from hrm_pipeline.config import Params

# Sudoku rating buckets when the metadata names none: the official report's (solver guesses 0 / 1-2 / 3-10 /
# 11-50 / 51+).
DEFAULT_RATING_EDGES = [0, 1, 3, 11, 51]


@dataclass
class EvaluationResult:
    metrics: dict[str, float]  # flat, dotted, MLflow-safe names (e.g. "scaling.2x.exact_accuracy")
    nested: dict[str, Any]  # the content of reports/metrics.json
    files: list[Path] = field(default_factory=list)  # every file written


@dataclass
class _Run:
    factor: int
    max_steps: int
    pred: Prediction
    scores: Scores


def model_path(params: Params) -> Path:
    return Path(params.paths.runs_dir) / params.pipeline.dataset / "model.pt"


def run_evaluation(params: Params, *, progress: bool = True) -> EvaluationResult:
    """Evaluate ``runs/<dataset>/model.pt`` on ``data/<dataset>``; write the evaluate stage's files."""
    cfg: EvaluateConfig = params.evaluate
    name = params.pipeline.dataset
    data_dir = params.dataset_dir(name)
    meta = read_meta(data_dir)
    table = _sample(read_split(data_dir, cfg.split), cfg)
    if table.height == 0:
        raise InputError(f"the {cfg.split} split of {data_dir} has no rows to evaluate")
    path = model_path(params)
    if not path.is_file():
        raise FileNotFoundError(f"no trained model at {path}; run `hrm train` first")
    predictor = Predictor.from_file(path, device=resolve_device(cfg.device))
    _check_compatible(predictor, meta, path, data_dir)

    inputs = table["inputs"].to_numpy()
    labels = table["labels"].to_numpy()
    identifiers = table["puzzle_identifier"].to_numpy().astype(np.int64)
    trained = predictor.config.halt_max_steps
    state_rows = _participation_rows(table.height, cfg)

    factors = sorted(set(cfg.scaling_factors))
    batches = -(-table.height // cfg.batch_size)
    bar = tqdm(total=batches * (len(factors) + 1), desc="evaluating", unit="batch", disable=not progress)
    runs: list[_Run] = []
    states: tuple[np.ndarray, np.ndarray] | None = None
    with bar:
        for f in factors:
            pred = _predict(
                predictor,
                inputs,
                identifiers,
                f * trained,
                "max",
                cfg.batch_size,
                bar,
                state_rows if f == 1 else None,
            )
            if f == 1 and pred.z_H is not None:
                states = (pred.z_H, pred.z_L)
            runs.append(_Run(f, f * trained, pred, score(pred.tokens, labels)))
        act = _predict(predictor, inputs, identifiers, trained, "q", cfg.batch_size, bar, None)
    act_scores = score(act.tokens, labels)
    head = runs[0]  # factor 1

    nested: dict[str, Any] = {
        "num_examples": table.height,
        "halt_max_steps": trained,
        "exact_accuracy": head.scores.exact_accuracy,
        "token_accuracy": head.scores.token_accuracy,
        "act": {
            "mean_steps": float(np.mean(act.steps)),
            "exact_accuracy": act_scores.exact_accuracy,
            "token_accuracy": act_scores.token_accuracy,
        },
    }
    scaling_rows = [
        {
            "factor": r.factor,
            "max_steps": r.max_steps,
            "exact_accuracy": r.scores.exact_accuracy,
            "token_accuracy": r.scores.token_accuracy,
        }
        for r in runs
    ]
    if states is not None:
        puzzle_positions = slice(predictor.config.puzzle_emb_len, None)  # the grid, not the puzzle embedding
        nested["participation_ratio"] = {
            "z_H": participation_ratio(states[0][:, puzzle_positions]),
            "z_L": participation_ratio(states[1][:, puzzle_positions]),
            "num_puzzles": len(state_rows),
        }

    buckets, arc = _family_metrics(meta, table, runs, act, scaling_rows, nested, cfg)
    nested["scaling"] = {
        f"{row['factor']}x": {k: v for k, v in row.items() if k != "factor"} for row in scaling_rows
    }

    hist = steps_histogram(act.steps, trained)
    files = _write_outputs(params, meta, table, nested, scaling_rows, hist, buckets, arc, head, act, trained)
    return EvaluationResult(metrics=finite_numbers(nested), nested=nested, files=files)


def _family_metrics(meta, table, runs, act, scaling_rows, nested, cfg):
    """The dataset's own figures, added to ``nested`` (and Maze/ARC columns to the scaling rows).

    Returns the Sudoku rating buckets (else []) and the ARC vote of the 1x run (else None) for the files.
    """
    buckets: list[Bucket] = []
    arc: ArcScores | None = None
    inputs = table["inputs"].to_numpy()
    if meta.dataset == "sudoku" and "rating" in table.columns:
        edges = list(meta.extra.get("rating_buckets") or DEFAULT_RATING_EDGES)
        buckets = rating_buckets(table["rating"].to_numpy(), runs[0].scores, edges)
        nested["sudoku"] = {
            "buckets": {
                b.label: {
                    "count": b.count,
                    "exact_accuracy": b.exact_accuracy,
                    "token_accuracy": b.token_accuracy,
                }
                for b in buckets
            }
        }
    elif meta.dataset == "maze":
        for row, r in zip(scaling_rows, runs, strict=True):
            row["valid_optimal_rate"] = float(np.mean(maze_valid_optimal(inputs, r.pred.tokens)))
        nested["maze"] = {
            "valid_optimal_rate": scaling_rows[0]["valid_optimal_rate"],
            "act_valid_optimal_rate": float(np.mean(maze_valid_optimal(inputs, act.tokens))),
        }
    elif meta.dataset == "arc":
        for row, r in zip(scaling_rows, runs, strict=True):
            scores_f = score_arc(table, r.pred.tokens, r.pred.q_halt, cfg.pass_k)
            row.update({f"pass_at_{k}": scores_f.per_task(k) for k in scores_f.ks})
            if r.factor == 1:
                arc = scores_f
        assert arc is not None
        nested["arc"] = {
            "num_tasks": arc.num_tasks,
            "num_test_inputs": len(arc.inputs),
            **{f"pass_at_{k}": arc.per_task(k) for k in arc.ks},
            **{f"pass_at_{k}_per_input": arc.per_input(k) for k in arc.ks},
        }
    return buckets, arc


def _write_outputs(params, meta, table, nested, scaling_rows, hist, buckets, arc, head, act, trained):
    reports = Path(params.paths.reports_dir)
    eval_dir = reports / "eval"
    final: list[Path] = []
    # The folder is built beside reports/eval and swapped in whole: no reader sees a half-written evaluation.
    with atomic_dir(eval_dir) as tmp:
        written = [
            write_csv(pl.DataFrame(scaling_rows), tmp / "scaling.csv"),
            write_csv(pl.DataFrame(hist, schema=["steps", "puzzles"], orient="row"), tmp / "steps.csv"),
        ]
        pngs = [
            plots.scaling(pl.DataFrame(scaling_rows), tmp / "plots" / "scaling.png", trained),
            plots.steps_histogram(hist, tmp / "plots" / "steps_hist.png", nested["act"]["mean_steps"]),
        ]
        if buckets:
            bucket_table = pl.DataFrame(
                {
                    "bucket": [b.label for b in buckets],
                    "lo": [b.lo for b in buckets],
                    "count": [b.count for b in buckets],
                    "exact_accuracy": [b.exact_accuracy for b in buckets],
                    "token_accuracy": [b.token_accuracy for b in buckets],
                }
            )
            written.append(write_csv(bucket_table, tmp / "buckets.csv"))
            pngs.append(plots.accuracy_by_bucket(buckets, tmp / "plots" / "accuracy_by_bucket.png"))
        if arc is not None:
            written.append(write_csv(arc.table(), tmp / "arc_inputs.csv"))
        curves, eval_curves = (_read_csv(reports / "train" / n) for n in ("curves.csv", "eval_curves.csv"))
        if curves is not None:
            pngs.append(plots.learning_curves(curves, eval_curves, tmp / "plots" / "learning_curves.png"))
        written += pngs
        report = _write_report(tmp, meta, table, head, act, pngs, nested, arc, params.evaluate.gallery_size)
        written += report
        final = [eval_dir / p.relative_to(tmp) for p in written]
    final.append(write_json(reports / "metrics.json", nested))
    return final


def _write_report(out_dir, meta, table, head, act, pngs, nested, arc, gallery_size) -> list[Path]:
    """The HTML report with a gallery of right and wrong test puzzles (``hrm_pipeline.report``).

    Skipped, with the other outputs intact, when the report module is not installed in this build.
    """
    if gallery_size == 0 or importlib.util.find_spec("hrm_pipeline.report") is None:
        return []
    from hrm_pipeline.report import GalleryItem, write_report

    correct = head.scores.exact
    rows = np.arange(table.height)
    if arc is not None:
        # One picture per test input: its identity variant (augmented frame = the task's frame); its verdict
        # is the vote's pass@1, the task-level outcome a user cares about.
        verdict = {(r.task_id, r.pair_index): r.passed[min(arc.ks)] for r in arc.inputs}
        rows = np.flatnonzero(table["variant"].to_numpy() == 0)
        keys = zip(table["task_id"].to_list(), table["pair_index"].to_list(), strict=True)
        correct = np.array([verdict.get(k, False) for k in keys])
    right = [i for i in rows if correct[i]][:gallery_size]
    wrong = [i for i in rows if not correct[i]][:gallery_size]
    inputs, labels = table["inputs"].to_numpy(), table["labels"].to_numpy()
    items = [
        GalleryItem(
            name=f"example {int(table['example_id'][int(i)])}",
            inputs=inputs[i],
            labels=labels[i],
            prediction=head.pred.tokens[i],
            correct=bool(correct[i]),
            steps=int(act.steps[i]),
            caption=_caption(table, int(i)),
        )
        for i in right + wrong
    ]
    before = set(out_dir.rglob("*"))
    html = write_report(out_dir, items, pngs, nested, meta=meta, title=f"HRM evaluation: {meta.dataset}")
    return sorted({Path(html), *(p for p in set(out_dir.rglob("*")) - before if p.is_file())})


def _read_csv(path: Path) -> pl.DataFrame | None:
    """A training-curve table written by the train stage, or None when absent or empty."""
    if not path.is_file():
        return None
    frame = pl.read_csv(path, infer_schema_length=None)
    return frame if frame.height and "step" in frame.columns else None


def _caption(table: pl.DataFrame, i: int) -> str:
    for col, text in (("rating", "rating {}"), ("path_length", "path {} moves"), ("task_id", "task {}")):
        if col in table.columns:
            return text.format(table[col][i])
    return ""


def _predict(predictor, inputs, identifiers, max_steps, halt, batch_size, bar, state_rows) -> Prediction:
    """One prediction run over all rows, batch by batch (the bar advances per batch); final states are kept
    for ``state_rows`` only, so the participation sample bounds the memory."""
    want = np.zeros(len(inputs), dtype=bool)
    if state_rows is not None:
        want[state_rows] = True
    parts = []
    for start in range(0, len(inputs), batch_size):
        sl = slice(start, start + batch_size)
        keep = want[sl]
        part = predictor.predict(
            inputs[sl],
            identifiers[sl],
            max_steps=max_steps,
            halt=halt,
            batch_size=batch_size,
            return_states=bool(keep.any()),
        )
        if part.z_H is not None:
            part.z_H, part.z_L = part.z_H[keep], part.z_L[keep]
        parts.append(part)
        bar.update()
    z_parts = [p for p in parts if p.z_H is not None]
    return Prediction(
        tokens=np.concatenate([p.tokens for p in parts]),
        steps=np.concatenate([p.steps for p in parts]),
        q_halt=np.concatenate([p.q_halt for p in parts]),
        q_continue=np.concatenate([p.q_continue for p in parts]),
        z_H=np.concatenate([p.z_H for p in z_parts]) if z_parts else None,
        z_L=np.concatenate([p.z_L for p in z_parts]) if z_parts else None,
    )


def _participation_rows(num_rows: int, cfg: EvaluateConfig) -> np.ndarray:
    """Sorted rows whose final states enter the participation ratio (a seeded sample when there are more)."""
    if cfg.participation_max_puzzles < 2:
        return np.zeros(0, dtype=np.int64)
    if num_rows <= cfg.participation_max_puzzles:
        return np.arange(num_rows)
    rng = np.random.default_rng(cfg.seed)
    return np.sort(rng.choice(num_rows, size=cfg.participation_max_puzzles, replace=False))


def _sample(table: pl.DataFrame, cfg: EvaluateConfig) -> pl.DataFrame:
    """Whole groups in a seeded order until at least ``max_examples`` rows (0 = the whole table)."""
    if cfg.max_examples == 0 or table.height <= cfg.max_examples:
        return table
    groups = table["group_id"].unique(maintain_order=True).to_numpy()
    order = np.random.default_rng(cfg.seed).permutation(groups)
    sizes = table.group_by("group_id").len().to_dict(as_series=False)
    size_of = dict(zip(sizes["group_id"], sizes["len"], strict=True))
    take = np.searchsorted(np.cumsum([size_of[g] for g in order]), cfg.max_examples) + 1
    keep = set(order[:take].tolist())
    return table.filter(pl.col("group_id").is_in(list(keep)))


def _check_compatible(predictor: Predictor, meta: DatasetMeta, path: Path, data_dir: Path) -> None:
    cfg = predictor.config
    if (cfg.seq_len, cfg.vocab_size) != (meta.seq_len, meta.vocab_size):
        raise InputError(
            f"{path} was trained on sequences of {cfg.seq_len} tokens over {cfg.vocab_size} symbols, but "
            f"{data_dir} has {meta.seq_len} over {meta.vocab_size}; retrain (`hrm train`) on this dataset"
        )
    if meta.num_puzzle_identifiers > cfg.num_puzzle_identifiers:
        raise InputError(
            f"{path} knows {cfg.num_puzzle_identifiers} puzzle identifiers but {data_dir} uses "
            f"{meta.num_puzzle_identifiers}; retrain (`hrm train`) on this dataset"
        )
