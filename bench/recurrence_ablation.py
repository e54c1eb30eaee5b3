"""Which part of HRM matters on a CPU: HRM, TRM and the ablations between them at one CPU-time budget.

Every run trains with ``hrm_pipeline.train.train`` on one thread for the same budget of CPU seconds of the
training process (``time.process_time``; evaluation time excluded), so the ~6 agents sharing this machine's
cores do not bias the comparison the way wall time would. A variant's ``max_steps`` is set from a short
calibration run of that variant (CPU seconds per step), so each gets a whole cosine schedule inside the
budget; held-out exact accuracy is taken at ``--evals`` points along the way and on the whole test
split at the end.

Tasks (6x6 sudoku, 2x3 boxes, generated with hrm_pipeline.data.sudoku):
    easy   today's params.yaml sudoku section: no-guess puzzles with 20-24 givens
    hard   the same with 8-20 givens, half of them needing at least one guess
Variants: overrides of today's params.yaml (as ``dvc exp run -S`` would apply them), see VARIANTS.

    python bench/recurrence_ablation.py                       # 2 tasks x 6 variants x 3 seeds, 2 at a time
    python bench/recurrence_ablation.py --tasks easy --variants hrm trm --seeds 0 --budget-cpu-s 20
    python bench/recurrence_ablation.py --report-only         # table + plot from bench/results again

Writes bench/results/recurrence_ablation.jsonl (one line per finished run, appended as runs finish; a rerun
skips the runs already there), recurrence_ablation.md (table) and recurrence_ablation.png (plot), and logs
each run to MLflow (experiment ``hrm-ablation`` in the project's store; ``--no-mlflow`` to skip), plus one
summary run per results file holding the table and the plot.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "runs" / "bench-recurrence-data"  # generated puzzles (git-ignored), reused between reruns

# The same one-network depth as HRM's two 1-layer modules: equal parameter counts at hidden 64. TRM keeps the
# CPU profile's cycle counts (T = H_cycles = 2 recursions of n = L_cycles = 2 latent updates): the paper's
# T=3, n=6 costs 21 network calls per segment against HRM's 6, too few steps in a CPU budget.
# Every variant starts from HRM as the CPU profile sized it (hidden 64, 1-layer H and L, 2x2 cycles), spelled
# out so the table stays the same ablation whatever params.yaml's model section defaults to.
HRM_BASE = [
    "model.recurrence=hrm",
    "model.gradient=auto",
    "model.q_continue=true",
    "model.token_mixer=attention",
    "model.H_layers=1",
    "model.L_layers=1",
    "model.H_cycles=2",
    "model.L_cycles=2",
]
TRM = ["model.recurrence=trm", "model.H_layers=1", "model.L_layers=2"]
VARIANTS: dict[str, list[str]] = {
    "hrm": [],
    "hrm-last-recursion": ["model.gradient=last_recursion"],
    "hrm-no-hierarchy": ["model.H_cycles=1"],
    "trm": TRM + ["model.q_continue=true"],
    "trm-mlp": TRM + ["model.q_continue=true", "model.token_mixer=mlp"],
    "trm-no-q-continue": TRM + ["model.q_continue=false"],
}
TASKS: dict[str, list[str]] = {
    "easy": [],  # params.yaml's sudoku section as it is
    # the mix params.yaml's comment describes: 8-20 givens, about half needing a guess
    "hard": [
        "sudoku.min_givens=8",
        "sudoku.max_givens=20",
        "sudoku.bucket_edges=[0,1]",
        "sudoku.bucket_shares=[0.5,0.5]",
    ],
}
CALIBRATION_STEPS = 12  # steps of the calibration run; the first CALIBRATION_WARMUP are not timed
CALIBRATION_WARMUP = 4


def _setup_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _params(task: str, variant: str, extra: list[str] = ()):
    from hrm_pipeline.config import load_params

    return load_params(ROOT / "params.yaml", TASKS[task] + HRM_BASE + VARIANTS[variant] + list(extra))


def build_data(task: str) -> Path:
    """Generate the task's puzzles once (seeded: the same data for every variant and seed)."""
    from hrm_pipeline.data.storage import write_dataset
    from hrm_pipeline.data.sudoku.dataset import build_tables

    out = CACHE / task
    if not (out / "metadata.json").exists():
        cfg = _params(task, "hrm").dataset_config("sudoku")
        start = time.perf_counter()
        write_dataset(build_tables(cfg, progress=False), out)
        print(f"[data] {task}: generated in {time.perf_counter() - start:.0f} s -> {out}", flush=True)
    return out


class CpuClock:
    """Training callback: CPU seconds of this process at every step record, evaluation time subtracted."""

    def __init__(self) -> None:
        self.start = time.process_time()
        self.eval_cpu = 0.0
        self.last = self.start
        self.at_step: dict[int, float] = {}  # step -> training CPU seconds when its record arrived

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        now = time.process_time()
        if any(k.startswith("eval/") for k in metrics):
            self.eval_cpu += now - self.last  # the eval ran between this step's record and now
        else:
            self.at_step[step] = now - self.start - self.eval_cpu
        self.last = now


def _train(task: str, variant: str, seed: int, max_steps: int, eval_interval: int, out_dir: Path):
    from hrm_pipeline.data.storage import load_split, read_meta
    from hrm_pipeline.train import train

    params = _params(task, variant)
    data_dir = build_data(task)
    meta = read_meta(data_dir)
    model_cfg = params.model_config(
        vocab_size=meta.vocab_size, seq_len=meta.seq_len, num_puzzle_identifiers=meta.num_puzzle_identifiers
    )
    train_cfg = replace(
        params.train,
        seed=seed,
        max_steps=max_steps,
        eval_interval=eval_interval,
        eval_max_examples=0,  # the whole held-out split (200 puzzles) at every point
        checkpoint_interval=0,  # a checkpoint resets the ACT carry; only the final save
        log_interval=1,  # a record (and a CPU reading) per step; a host fetch costs nothing on a CPU
        progress=False,
        num_threads=1,
        device="cpu",
    )
    clock = CpuClock()
    result = train(
        model_cfg,
        train_cfg,
        load_split(data_dir, "train"),
        load_split(data_dir, "test"),
        out_dir,
        resume=False,
        callbacks=[clock],
    )
    return model_cfg, train_cfg, clock, result


def calibrate(task: str, variant: str) -> float:
    """CPU seconds per training step of ``variant`` on ``task`` (one thread)."""
    _setup_worker()
    with tempfile.TemporaryDirectory() as tmp:
        _, _, clock, _ = _train(task, variant, 0, CALIBRATION_STEPS, 0, Path(tmp))
    t = clock.at_step
    return (t[CALIBRATION_STEPS] - t[CALIBRATION_WARMUP]) / (CALIBRATION_STEPS - CALIBRATION_WARMUP)


def run_one(task: str, variant: str, seed: int, budget: float, sec_per_step: float, evals: int) -> dict:
    _setup_worker()
    max_steps = evals * max(1, int(budget / sec_per_step / evals))  # evaluation points at equal spacing
    with tempfile.TemporaryDirectory() as tmp:
        model_cfg, train_cfg, clock, result = _train(
            task, variant, seed, max_steps, max(1, max_steps // evals), Path(tmp)
        )
        from hrm_pipeline.model import HRM

        params = sum(p.numel() for p in HRM(model_cfg).parameters() if p.requires_grad)
    points = [
        {
            "step": step,
            "cpu_s": round(clock.at_step[step], 2),
            "exact_accuracy": ev.exact_accuracy,
            "accuracy": ev.accuracy,
            "num_examples": ev.num_examples,
        }
        for step, ev in result.evals
    ]
    final = result.final_eval
    return {
        "task": task,
        "variant": variant,
        "seed": seed,
        "overrides": TASKS[task] + HRM_BASE + VARIANTS[variant],
        "budget_cpu_s": budget,
        "calibrated_cpu_s_per_step": round(sec_per_step, 4),
        "steps": result.steps_done,
        "train_cpu_s": round(clock.at_step[result.steps_done], 2),
        "eval_cpu_s": round(clock.eval_cpu, 2),
        "wall_s": round(result.wall_s, 1),
        "trainable_params": params,
        "final_exact_accuracy": final.exact_accuracy,
        "final_accuracy": final.accuracy,
        "final_q_halt_accuracy": final.q_halt_accuracy,
        "test_examples": final.num_examples,
        "curve": points,
        "model": asdict(model_cfg),
        "train": {
            k: v for k, v in asdict(train_cfg).items() if k in ("lr", "global_batch_size", "adam_atan2")
        },
    }


# ----- reporting -----


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def write_table(rows: list[dict], path: Path) -> str:
    lines = [
        "| task | variant | params | steps | CPU s / step | exact (mean ± sd) | per seed | token acc. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        for variant in VARIANTS:
            runs = sorted(
                (r for r in rows if r["task"] == task and r["variant"] == variant), key=lambda r: r["seed"]
            )
            if not runs:
                continue
            exact = [r["final_exact_accuracy"] for r in runs]
            steps = statistics.mean(r["steps"] for r in runs)
            per_step = statistics.mean(r["train_cpu_s"] / r["steps"] for r in runs)
            seeds = " / ".join(f"{e:.3f}" for e in exact)
            token = _mean_sd([r["final_accuracy"] for r in runs])
            lines.append(
                f"| {task} | {variant} | {runs[0]['trainable_params']:,} | {steps:.0f} | {per_step:.3f} | "
                f"{_mean_sd(exact)} | {seeds} | {token} |"
            )
    budget = {r["budget_cpu_s"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    text = (
        f"Held-out exact accuracy (200 test puzzles) after {', '.join(f'{b:g}' for b in sorted(budget))} CPU "
        f"seconds of training on one thread; seeds {seeds}. Written by bench/recurrence_ablation.py.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    path.write_text(text)
    return text


def write_plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Exact accuracy is the paper's metric; token accuracy shows progress while no whole grid is right yet.
    metrics = (("exact_accuracy", "held-out exact accuracy"), ("accuracy", "held-out token accuracy"))
    tasks = [t for t in TASKS if any(r["task"] == t for r in rows)]
    fig, axes = plt.subplots(
        len(metrics), len(tasks), figsize=(6 * len(tasks), 8), sharex="col", squeeze=False
    )
    colours = dict(zip(VARIANTS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for row, (key, label) in enumerate(metrics):
        for ax, task in zip(axes[row], tasks, strict=True):
            for variant in VARIANTS:
                runs = [r for r in rows if r["task"] == task and r["variant"] == variant]
                for i, r in enumerate(runs):
                    xs = [p["cpu_s"] for p in r["curve"]]
                    ys = [p[key] for p in r["curve"]]
                    ax.plot(
                        xs,
                        ys,
                        marker="o",
                        ms=3,
                        color=colours[variant],
                        alpha=0.8,
                        label=variant if i == 0 else None,
                    )
            ax.set_title(f"6x6 sudoku, {task}")
            ax.grid(alpha=0.3)
            if row == len(metrics) - 1:
                ax.set_xlabel("training CPU seconds (1 thread)")
        axes[row][0].set_ylabel(label)
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _mlflow(experiment: str):
    import mlflow

    from hrm_pipeline.config import load_params
    from hrm_pipeline.tracking.connection import resolve_uri

    mlflow.set_tracking_uri(resolve_uri(load_params(ROOT / "params.yaml").tracking))
    mlflow.set_experiment(experiment)
    return mlflow


def log_mlflow(record: dict, experiment: str) -> None:
    mlflow = _mlflow(experiment)
    name = f"{record['task']}-{record['variant']}-s{record['seed']}"
    with mlflow.start_run(run_name=name):
        mlflow.log_params(
            {
                "task": record["task"],
                "variant": record["variant"],
                "seed": record["seed"],
                "budget_cpu_s": record["budget_cpu_s"],
                "overrides": " ".join(record["overrides"]) or "(none)",
                **{f"model.{k}": v for k, v in record["model"].items()},
            }
        )
        for p in record["curve"]:
            mlflow.log_metrics({"exact_accuracy": p["exact_accuracy"], "cpu_s": p["cpu_s"]}, step=p["step"])
        mlflow.log_metrics(
            {
                "final_exact_accuracy": record["final_exact_accuracy"],
                "final_accuracy": record["final_accuracy"],
                "train_cpu_s": record["train_cpu_s"],
                "steps": record["steps"],
                "trainable_params": record["trainable_params"],
            }
        )


def log_summary(rows: list[dict], table: Path, plot: Path, experiment: str) -> None:
    """One run per results file beside the per-run ones: the table and the plot as artifacts, and each
    task/variant's mean held-out exact accuracy as a metric, so the comparison is one click in the MLflow
    UI."""
    mlflow = _mlflow(experiment)
    with mlflow.start_run(run_name=f"summary-{table.stem}"):
        mlflow.log_params(
            {
                "budget_cpu_s": " ".join(f"{b:g}" for b in sorted({r["budget_cpu_s"] for r in rows})),
                "seeds": " ".join(str(s) for s in sorted({r["seed"] for r in rows})),
            }
        )
        groups: dict[tuple[str, str], list[float]] = {}
        for r in rows:
            groups.setdefault((r["task"], r["variant"]), []).append(r["final_exact_accuracy"])
        mlflow.log_metrics({f"{t}.{v}.exact_mean": statistics.mean(e) for (t, v), e in groups.items()})
        mlflow.log_artifact(str(table))
        mlflow.log_artifact(str(plot))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--budget-cpu-s", type=float, default=40.0, help="training CPU seconds per run")
    ap.add_argument("--evals", type=int, default=3, help="held-out evaluations along each run")
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel (one thread each)")
    ap.add_argument("--out", type=Path, default=RESULTS / "recurrence_ablation.jsonl")
    ap.add_argument("--no-mlflow", action="store_true", help="skip logging runs to MLflow")
    ap.add_argument("--experiment", default="hrm-ablation")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table, plot = args.out.with_suffix(".md"), args.out.with_suffix(".png")

    if not args.report_only:
        done = {(r["task"], r["variant"], r["seed"]) for r in read_results(args.out)}
        todo = [
            (t, v, s) for s in args.seeds for t in args.tasks for v in args.variants if (t, v, s) not in done
        ]
        for task in args.tasks:
            build_data(task)
        # spawn, not fork: generating the data above starts torch/numba threads in this process, and a forked
        # worker inherited their locks and hung at its first step (seen when the data cache was empty).
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=spawn) as pool:
            # Both tasks are 6x6 grids (the same sequence length): a step costs the same, so calibrate on one.
            variants = sorted({v for _, v, _ in todo})
            rates = dict(
                zip(variants, pool.map(calibrate, [args.tasks[0]] * len(variants), variants), strict=True)
            )
            for v, rate in rates.items():
                print(
                    f"[calibrate] {v}: {rate:.3f} CPU s/step -> ~{int(args.budget_cpu_s / rate)} steps",
                    flush=True,
                )
            futures = {
                pool.submit(run_one, t, v, s, args.budget_cpu_s, rates[v], args.evals): (t, v, s)
                for t, v, s in todo
            }
            for fut in as_completed(futures):
                record = fut.result()
                with args.out.open("a") as f:  # one line per finished run: partial results survive a stop
                    f.write(json.dumps(record) + "\n")
                print(
                    f"[run] {record['task']} {record['variant']} seed {record['seed']}: "
                    f"exact {record['final_exact_accuracy']:.3f} after {record['steps']} steps, "
                    f"{record['train_cpu_s']:.0f} CPU s ({record['wall_s']:.0f} s wall)",
                    flush=True,
                )
                if not args.no_mlflow:
                    try:
                        log_mlflow(record, args.experiment)
                    except Exception as err:  # a tracking outage must not lose the benchmark
                        print(f"[mlflow] not logged: {str(err).splitlines()[0]}", file=sys.stderr, flush=True)
    rows = read_results(args.out)
    if not rows:
        print("no results yet", file=sys.stderr)
        return 1
    print(write_table(rows, table))
    write_plot(rows, plot)
    print(f"wrote {args.out}, {table}, {plot}")
    if not args.no_mlflow:
        try:
            log_summary(rows, table, plot, args.experiment)
        except Exception as err:  # as above: the files are written whatever the store does
            print(f"[mlflow] summary not logged: {str(err).splitlines()[0]}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
