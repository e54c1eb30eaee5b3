"""The HRM training loop: deep supervision with a persistent ACT carry, resumable exactly.

One optimizer step = one ACT segment on the carried rows: rows that halted last step take fresh examples from
this step's global batch, the rest continue (the model does the swap). Under gradient accumulation each
micro-batch slice keeps its own carry; under ``torchrun`` each rank keeps the carries of its slice.

NOTE on resume: the carry (z_H, z_L: B x (P+S) x D floats, ~1.4 GB at batch 768 on 900-token ARC) is not
saved. Instead every checkpoint step also resets the carry, in interrupted and uninterrupted runs alike, so a
resumed run repeats the uninterrupted one exactly. The cost is that rows in flight at a checkpoint are dropped
from training (at most halt_max_steps segments of one batch per checkpoint interval). Resume reads the newest
intact checkpoint (a truncated or corrupt one is set aside and the previous one used, see checkpoint.py).

Non-finite guard (TrainConfig.nonfinite_*): a step with a NaN/inf loss or gradient makes no update and drops
the carries (their states may be NaN). Checkpoints are only written after a good step, so "the last good
checkpoint" is simply the newest intact one; a fresh run writes one at step 0 so there always is one.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """Non-finite losses/gradients persisted through every allowed restore with a lowered lr."""


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
        adam_atan2=cfg.adam_atan2,
    )
    dense_params = [p for p in model.parameters() if p.requires_grad]
    sampler = EpochSampler.from_dataset(train_data, cfg.global_batch_size, cfg.seed)
    n_total = total_steps(cfg, sampler)
    exploration = torch.Generator(device=device).manual_seed(cfg.seed + _EXPLORATION_SEED_OFFSET + info.rank)
    eval_rows = None if eval_data is None else eval_subset(len(eval_data), cfg.eval_max_examples, cfg.seed)
    eval_batch = cfg.eval_batch_size or local_batch

    step = 0
    ckpt_path = out_dir / ckpt.CHECKPOINT_NAME
    guard = cfg.nonfinite_patience > 0
    # Survives restores and resumes: lr multiplier, skipped steps, restores (see the module docstring).
    nonfinite = {"lr_scale": 1.0, "skipped": 0, "restores": 0}

    def restore_latest() -> tuple[int, Path] | None:
        found = ckpt.load_latest(ckpt_path, map_location=device)
        if found is None:
            return None
        obj, source = found
        state = ckpt.restore_checkpoint(obj, model, optimizers)
        if state["model_config"] != asdict(model_cfg):
            raise ValueError(f"{source} was trained with a different model config; use a new out_dir")
        sampler.load_state_dict(state["sampler"])
        ckpt.set_rng_state(state["rng"], exploration)
        nonfinite.update(state.get("nonfinite", {}))
        return int(state["step"]), source

    if info.is_main:
        ckpt.remove_stale_temps(out_dir)
    if resume and (restored := restore_latest()) is not None:
        step, source = restored
        if source != ckpt_path:
            log.warning("resumed from %s at step %d", source, step)
    start_step = step

    def save(at_step: int) -> None:
        if info.is_main:
            train_state = {
                "step": at_step,
                "sampler": sampler.state_dict(),
                "rng": ckpt.rng_state(exploration),
                "model_config": asdict(model_cfg),
                "train_config": asdict(cfg),
                "nonfinite": dict(nonfinite),
            }
            ckpt.save_checkpoint(ckpt_path, model, optimizers, train_state)
        if info.enabled:
            torch.distributed.barrier()  # every rank may read it back on a non-finite restore

    if guard and step == 0:
        save(0)  # the state a restore goes back to before the first interval checkpoint

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
    # (step, lr, sums on device, skipped) since the last fetch
    pending: list[tuple[int, float, torch.Tensor, bool]] = []
    carries: list | None = None
    bar = tqdm(total=n_total, initial=step, disable=not (cfg.progress and info.is_main), desc="train")
    last_fetch = time.perf_counter()

    def fetch() -> None:
        """Turn pending device sums into history records (the non-finite guard aside, the only host sync)."""
        nonlocal last_fetch
        if not pending:
            return
        sums = distributed.all_reduce_sum(torch.stack([p[2] for p in pending]), info).cpu()
        now = time.perf_counter()
        per_step = (now - last_fetch) / len(pending)
        last_fetch = now
        for (at_step, lr, _, skipped), row in zip(pending, sums, strict=True):
            rec = {"step": at_step, "lr": lr, **_summarise(row, cfg.global_batch_size)}
            rec["skipped"] = float(skipped)
            rec["examples_per_s"] = cfg.global_batch_size / per_step  # example-segments per second
            rec["solved_per_s"] = rec["halted"] / per_step  # examples that finished their ACT run
            history.append(rec)
            emit(at_step, {f"train/{k}": float(v) for k, v in rec.items() if k != "step"})
        bar.update(len(pending))
        pending.clear()
        bar.set_postfix(
            loss=f"{rec['loss']:.3f}", acc=f"{rec['accuracy']:.3f}", ex_s=f"{rec['examples_per_s']:.0f}"
        )

    def nonfinite_restore() -> int:
        """Back to the last good checkpoint with a lower lr; returns the step restored."""
        fetch()
        why = f"non-finite loss or gradients for {cfg.nonfinite_patience} steps in a row at step {step}"
        if nonfinite["restores"] >= cfg.nonfinite_max_restores:
            raise TrainingDiverged(
                f"{why}, after {nonfinite['restores']} restores (lr scale {nonfinite['lr_scale']:g}); "
                "lower train.lr or check the data"
            )
        kept = {**nonfinite, "restores": nonfinite["restores"] + 1}  # the checkpoint's counts are older
        kept["lr_scale"] *= cfg.nonfinite_lr_factor
        restored = restore_latest()
        if restored is None:
            raise TrainingDiverged(f"{why} and no intact checkpoint to go back to")
        at_step, source = restored
        nonfinite.update(kept)
        log.warning("%s: restored %s (step %d), lr scale now %g", why, source.name, at_step, kept["lr_scale"])
        metrics = {"train/nonfinite_restores": float(kept["restores"]), "train/lr_scale": kept["lr_scale"]}
        emit(at_step, metrics)
        bar.n = at_step
        bar.refresh()
        return at_step

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    consecutive_bad = 0
    try:
        while step < n_total:
            factor = lr_factor(step, n_total, cfg.lr_warmup_steps, cfg.lr_min_ratio) * nonfinite["lr_scale"]
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
                norm = torch.nn.utils.clip_grad_norm_(dense_params, cfg.grad_clip)
            elif guard:
                norm = torch.nn.utils.get_total_norm([p.grad for p in dense_params if p.grad is not None])
            # The puzzle-embedding gradient is not checked on its own: it comes from the same loss through the
            # same layers, so a NaN there shows in the dense gradients too.
            skipped = guard and _any_rank_nonfinite(sums[0], norm, info)
            for opt in optimizers:
                if not skipped:
                    opt.step()
                opt.zero_grad(set_to_none=True)
            step += 1
            pending.append((step, cfg.lr * factor, sums, skipped))
            if skipped:
                carries = None  # rows in flight may hold NaN states
                nonfinite["skipped"] += 1
                consecutive_bad += 1
                if consecutive_bad >= cfg.nonfinite_patience:
                    step = nonfinite_restore()
                    consecutive_bad = 0
                    continue
            else:
                consecutive_bad = 0

            last = step == n_total
            do_eval = eval_data is not None and cfg.eval_interval > 0 and step % cfg.eval_interval == 0
            # No checkpoint after a skipped step (unless it is the last): the newest one must be a good state.
            interval = cfg.checkpoint_interval > 0 and step % cfg.checkpoint_interval == 0
            do_ckpt = last or (interval and consecutive_bad == 0)
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
            ckpt.with_digest(
                {
                    "model": ckpt.strip_compile_prefix(model.state_dict()),
                    "model_config": asdict(model_cfg),
                    "train_config": asdict(cfg),
                    "step": step,
                }
            ),
            model_path,
        )
    distributed.teardown(info)
    extra = {"nonfinite_skipped": nonfinite["skipped"], "nonfinite_restores": nonfinite["restores"]}
    extra["lr_scale"] = nonfinite["lr_scale"]
    return TrainResult(
        history=history,
        evals=evals,
        final_eval=final_eval,
        start_step=start_step,
        steps_done=step,
        total_steps=n_total,
        wall_s=time.perf_counter() - wall_start,
        model_path=model_path,
        extra=extra,
    )


def _any_rank_nonfinite(loss_sum: torch.Tensor, grad_norm: torch.Tensor, info: distributed.DistInfo) -> bool:
    """One host sync: did any rank see a non-finite loss or gradient norm this step?"""
    bad = (~torch.isfinite(loss_sum)) | (~torch.isfinite(grad_norm.to(loss_sum.device)))
    return bool(distributed.all_reduce_sum(bad.to(torch.float32), info).item() > 0)
