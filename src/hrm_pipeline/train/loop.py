"""The HRM training loop: deep supervision with a persistent ACT carry, resumable exactly.

One optimizer step = one ACT segment on the carried rows: rows that halted last step take fresh examples from
this step's global batch, the rest continue (the model does the swap). Under gradient accumulation each
micro-batch slice keeps its own carry; under ``torchrun`` each rank keeps the carries of its slice.

NOTE on resume: the carry (z_H, z_L: B x (P+S) x D floats, ~1.4 GB at batch 768 on 900-token ARC) is not
saved. Instead every checkpoint step also resets the carry, in interrupted and uninterrupted runs alike, so a
resumed run repeats the uninterrupted one exactly. The cost is that rows in flight at a checkpoint are dropped
from training (at most halt_max_steps segments of one batch per checkpoint interval).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from hrm_pipeline.data.storage import TokenDataset
from hrm_pipeline.model import HRM, HRMConfig, build_optimizers, compute_loss
from hrm_pipeline.train import checkpoint as ckpt
from hrm_pipeline.train import distributed
from hrm_pipeline.train.config import TrainConfig
from hrm_pipeline.train.evaluate import EvalResult, eval_subset, evaluate
from hrm_pipeline.train.sampler import EpochSampler, make_batch
from hrm_pipeline.train.schedule import lr_factor

# A callback receives (step, metrics) with names prefixed "train/" or "eval/"; mlflow.log_metrics fits as is.
MetricsCallback = Callable[[int, dict[str, float]], None]

# Per-step sums kept on the device between host fetches: losses are summed over all rows, the rest over rows
# that halted this step ("count").
_SUM_KEYS = (
    "loss",
    "lm_loss",
    "q_halt_loss",
    "q_continue_loss",
    "count",
    "accuracy",
    "exact_accuracy",
    "q_halt_accuracy",
    "steps",
)
_LOSS_KEYS = ("loss", "lm_loss", "q_halt_loss", "q_continue_loss")
_EXPLORATION_SEED_OFFSET = 1  # the exploration stream differs from the init stream of the same seed


@dataclass
class TrainResult:
    history: list[dict[str, float]]  # one record per optimizer step run in THIS call (not before a resume)
    evals: list[tuple[int, EvalResult]]
    final_eval: EvalResult | None
    start_step: int  # > 0 when resumed
    steps_done: int  # the global step reached
    total_steps: int
    wall_s: float
    model_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def total_steps(cfg: TrainConfig, sampler: EpochSampler) -> int:
    """Optimizer steps of the run: epochs x expected epoch length / global batch, capped by max_steps."""
    steps = max(1, math.ceil(cfg.epochs * sampler.expected_examples_per_epoch() / cfg.global_batch_size))
    return min(steps, cfg.max_steps) if cfg.max_steps > 0 else steps


def build_model(model_cfg: HRMConfig, seed: int, device: torch.device) -> HRM:
    return HRM(model_cfg, generator=torch.Generator().manual_seed(seed)).to(device)


def _summarise(sums: torch.Tensor, global_batch: int) -> dict[str, float]:
    vals = dict(zip(_SUM_KEYS, sums.tolist(), strict=True))
    count = vals["count"]
    rec = {k: vals[k] / global_batch for k in _LOSS_KEYS}
    for k in ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps"):
        rec[k] = vals[k] / count if count else math.nan
    rec["halted"] = count
    return rec


def _check_batch(cfg: TrainConfig, world_size: int) -> tuple[int, int]:
    if cfg.global_batch_size % world_size:
        raise ValueError(f"global_batch_size {cfg.global_batch_size} not divisible by {world_size} ranks")
    local = cfg.global_batch_size // world_size
    if local % cfg.grad_accum_steps:
        raise ValueError(f"per-rank batch {local} not divisible by grad_accum_steps {cfg.grad_accum_steps}")
    return local, local // cfg.grad_accum_steps


def train(
    model_cfg: HRMConfig,
    cfg: TrainConfig,
    train_data: TokenDataset,
    eval_data: TokenDataset | None,
    out_dir: Path,
    *,
    resume: bool = True,
    callbacks: Sequence[MetricsCallback] = (),
) -> TrainResult:
    """Train (or resume) an HRM; writes ``checkpoint.pt`` and, at the end, ``model.pt`` into ``out_dir``.

    ``callbacks`` get ``(step, metrics)`` on rank 0 at every host fetch (per step records) and evaluation.
    An exception raised by a callback stops the run like a kill would (the last checkpoint stays valid).
    """
    threads = torch.get_num_threads()
    try:
        return _train(model_cfg, cfg, train_data, eval_data, Path(out_dir), resume, callbacks)
    finally:
        torch.set_num_threads(threads)  # cfg.num_threads is this run's setting, not the caller's


def _train(
    model_cfg: HRMConfig,
    cfg: TrainConfig,
    train_data: TokenDataset,
    eval_data: TokenDataset | None,
    out_dir: Path,
    resume: bool,
    callbacks: Sequence[MetricsCallback],
) -> TrainResult:
    wall_start = time.perf_counter()
    info = distributed.setup(cfg.device)
    device = info.device
    if device.type == "cpu":
        # Denormals in the recurrence made the first minutes of CPU training ~5x slower.
        torch.set_flush_denormal(True)
    if cfg.num_threads > 0:
        # NOTE: a small model on a shared CPU wants 1 thread: with other load, spinning OpenMP workers
        # made the toy run ~15x slower at 2 threads than at 1.
        torch.set_num_threads(cfg.num_threads)
    local_batch, micro_batch = _check_batch(cfg, info.world_size)

    model = build_model(model_cfg, cfg.seed, device)
    model.train()
    forward = torch.compile(model) if cfg.compile else model
    optimizers = build_optimizers(
        model,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        betas=(cfg.beta1, cfg.beta2),
        puzzle_emb_lr=cfg.puzzle_emb_lr,
        puzzle_emb_weight_decay=cfg.puzzle_emb_weight_decay,
    )
    dense_params = [p for p in model.parameters() if p.requires_grad]
    sampler = EpochSampler.from_dataset(train_data, cfg.global_batch_size, cfg.seed)
    n_total = total_steps(cfg, sampler)
    exploration = torch.Generator(device=device).manual_seed(cfg.seed + _EXPLORATION_SEED_OFFSET + info.rank)
    eval_rows = None if eval_data is None else eval_subset(len(eval_data), cfg.eval_max_examples, cfg.seed)
    eval_batch = cfg.eval_batch_size or local_batch

    step = 0
    ckpt_path = out_dir / ckpt.CHECKPOINT_NAME
    if resume and ckpt_path.exists():
        state = ckpt.restore_checkpoint(ckpt.load(ckpt_path, map_location=device), model, optimizers)
        if state["model_config"] != asdict(model_cfg):
            raise ValueError(f"{ckpt_path} was trained with a different model config; use a new out_dir")
        step = int(state["step"])
        sampler.load_state_dict(state["sampler"])
        ckpt.set_rng_state(state["rng"], exploration)
    start_step = step

    def save(at_step: int) -> None:
        if info.is_main:
            train_state = {
                "step": at_step,
                "sampler": sampler.state_dict(),
                "rng": ckpt.rng_state(exploration),
                "model_config": asdict(model_cfg),
                "train_config": asdict(cfg),
            }
            ckpt.save_checkpoint(ckpt_path, model, optimizers, train_state)

    def run_eval(rows: Sequence[int] | None = eval_rows) -> EvalResult:
        return evaluate(
            model,
            eval_data,
            eval_batch,
            device=device,
            precision=cfg.precision,
            indices=rows,
            loss_type=cfg.loss_type,
            dist_info=info,
        )

    def emit(at_step: int, metrics: dict[str, float]) -> None:
        if info.is_main:
            for cb in callbacks:
                cb(at_step, metrics)

    history: list[dict[str, float]] = []
    evals: list[tuple[int, EvalResult]] = []
    pending: list[tuple[int, float, torch.Tensor]] = []  # (step, lr, sums on device) since the last fetch
    carries: list | None = None
    bar = tqdm(total=n_total, initial=step, disable=not (cfg.progress and info.is_main), desc="train")
    last_fetch = time.perf_counter()

    def fetch() -> None:
        """The only host sync of the loop: turn pending device sums into history records."""
        nonlocal last_fetch
        if not pending:
            return
        sums = distributed.all_reduce_sum(torch.stack([p[2] for p in pending]), info).cpu()
        now = time.perf_counter()
        per_step = (now - last_fetch) / len(pending)
        last_fetch = now
        for (at_step, lr, _), row in zip(pending, sums, strict=True):
            rec = {"step": at_step, "lr": lr, **_summarise(row, cfg.global_batch_size)}
            rec["examples_per_s"] = cfg.global_batch_size / per_step  # example-segments per second
            rec["solved_per_s"] = rec["halted"] / per_step  # examples that finished their ACT run
            history.append(rec)
            emit(at_step, {f"train/{k}": float(v) for k, v in rec.items() if k != "step"})
        bar.update(len(pending))
        pending.clear()
        bar.set_postfix(
            loss=f"{rec['loss']:.3f}", acc=f"{rec['accuracy']:.3f}", ex_s=f"{rec['examples_per_s']:.0f}"
        )

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    try:
        while step < n_total:
            factor = lr_factor(step, n_total, cfg.lr_warmup_steps, cfg.lr_min_ratio)
            for opt in optimizers:
                for group in opt.param_groups:
                    group["lr"] = group["base_lr"] * factor
            rows = sampler.next_batch()[info.rank * local_batch : (info.rank + 1) * local_batch]
            batch = make_batch(train_data, rows, device)
            starts = range(0, local_batch, micro_batch)
            micro = [{k: v[i : i + micro_batch] for k, v in batch.items()} for i in starts]
            if carries is None:
                carries = [model.initial_carry(m) for m in micro]
            sums = torch.zeros(len(_SUM_KEYS), dtype=torch.float64, device=device)
            for i, mb in enumerate(micro):
                with autocast:
                    carries[i], out = forward(carries[i], mb, generator=exploration)
                loss, metrics = compute_loss(carries[i], out, loss_type=cfg.loss_type)
                (loss / cfg.global_batch_size).backward()
                metrics["loss"] = loss.detach()
                sums += torch.stack([metrics[k].to(torch.float64) for k in _SUM_KEYS])
            distributed.all_reduce_grads(dense_params, info)
            if model.puzzle_emb is not None:
                distributed.sync_puzzle_embedding_grads(model.puzzle_emb, info)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(dense_params, cfg.grad_clip)
            for opt in optimizers:
                opt.step()
                opt.zero_grad(set_to_none=True)
            step += 1
            pending.append((step, cfg.lr * factor, sums))

            last = step == n_total
            do_eval = eval_data is not None and cfg.eval_interval > 0 and step % cfg.eval_interval == 0
            do_ckpt = last or (cfg.checkpoint_interval > 0 and step % cfg.checkpoint_interval == 0)
            if last or do_eval or do_ckpt or step % max(1, cfg.log_interval) == 0:
                fetch()
            if do_eval and not last:
                result = run_eval()
                evals.append((step, result))
                emit(step, result.as_metrics())
            if do_ckpt:
                carries = None  # see the module NOTE: resume == uninterrupted because both reset here
                save(step)
        fetch()
    finally:
        bar.close()

    final_eval = None
    model_path = None
    if eval_data is not None:
        final_eval = run_eval(None)  # periodic evals use a fixed subsample; the final one the whole split
        evals.append((step, final_eval))
        emit(step, final_eval.as_metrics())
    if info.is_main:
        model_path = out_dir / ckpt.MODEL_NAME
        ckpt.atomic_torch_save(
            {
                "model": ckpt.strip_compile_prefix(model.state_dict()),
                "model_config": asdict(model_cfg),
                "train_config": asdict(cfg),
                "step": step,
            },
            model_path,
        )
    distributed.teardown(info)
    return TrainResult(
        history=history,
        evals=evals,
        final_eval=final_eval,
        start_step=start_step,
        steps_done=step,
        total_steps=n_total,
        wall_s=time.perf_counter() - wall_start,
        model_path=model_path,
    )
