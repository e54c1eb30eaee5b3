"""The HRM training loop: deep supervision with a persistent ACT carry, resumable exactly.

One optimizer step = one ACT segment on the carried rows: rows that halted last step take fresh examples from
this step's global batch, the rest continue (the model does the swap). Under gradient accumulation each
micro-batch slice keeps its own carry; under ``torchrun`` each rank keeps the carries of its slice.

NOTE on resume: the carry is created once and never reset (as in the reference); every checkpoint holds it,
so a resumed run repeats the uninterrupted one exactly and a checkpoint changes nothing in training. The
checkpoint stores the GLOBAL carry (every micro-batch of every rank, gathered to rank 0 in global row order:
z_H, z_L, steps, halted, current_data) plus each rank's exploration generator, inside the one checkpoint file,
so its digest and the fallback to the previous checkpoint cover them with no extra files. Each rank takes its
rows back on resume. Size: 2 x B x (P+S) x D floats for z_H and z_L (~2.9 GB fp32 at batch 768 on 916-token
ARC at D 512, ~0.5 MB for the CPU sudoku profile). Resume reads the newest intact checkpoint (a truncated or
corrupt one is set aside and the previous one used, see checkpoint.py). A checkpoint with a different
global batch size, or without a carry (older files), starts from a fresh carry with a warning.

Non-finite guard (TrainConfig.nonfinite_*): a step with a NaN/inf loss or gradient makes no update; in the
carries only the rows whose z_H or z_L is non-finite are dropped (marked halted, so they take fresh examples
next step), the rest continue. Checkpoints are only written after a good step, so "the last good checkpoint"
is simply the newest intact one; a fresh run writes one at step 0 so there always is one.

NOTE on host syncs: none per step. The skip decision is a device flag that masks the update on the device
(guard.py); the host reads the flags at the fetch every log_interval steps (and at evaluations, checkpoints
and the last step), the only device->host transfer of the loop (``to_host``). So the skip itself is
immediate, but counting it, the restore after nonfinite_patience skips in a row, and TrainingDiverged come
at the next fetch: up to log_interval - 1 steps late (those extra steps are discarded by the restore and
not recorded). Until that fetch Adam's bias correction counts the skipped step (its step counter is a
Python int the device cannot mask); the fetch takes it back.

EMA (TrainConfig.ema_decay > 0): the average of the weights (ema.py) is updated after every step, evaluations
and ``model.pt`` use it, and the checkpoint holds it beside the live weights the optimiser goes on with.

Metrics: accuracy, exact_accuracy, q_halt_accuracy and steps are averages over the rows that halted in a step;
in a step where no row halted they are NaN in ``TrainResult.history`` and LEFT OUT of the metrics the
callbacks get (MLflow, curves), so no NaN reaches a logged curve (0 would read as a real accuracy of 0).
"""

from __future__ import annotations

import copy
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
from hrm_pipeline.train import distributed, guard
from hrm_pipeline.train.config import TrainConfig
from hrm_pipeline.train.ema import WeightEMA
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
_HALTED_KEYS = ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps")  # averages over the halted rows
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
    for k in _HALTED_KEYS:
        rec[k] = vals[k] / count if count else math.nan
    rec["halted"] = count
    return rec


def to_host(tensor: torch.Tensor) -> torch.Tensor:
    """Every device->host transfer of the loop goes through here (tests count them; on a GPU each one waits
    for the queued work): the fetch every log_interval steps, plus checkpoint restores."""
    return tensor.cpu()


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
    trainer = _Trainer(model_cfg, cfg, train_data, eval_data, out_dir, callbacks)
    trainer.start(resume)
    try:
        trainer.run()
    finally:
        trainer.bar.close()
    return trainer.finish()


@dataclass
class _Pending:
    """One optimizer step's record, its sums still on the device until the next host fetch."""

    step: int
    lr: float
    sums: torch.Tensor  # (len(_SUM_KEYS),) float64
    bad: torch.Tensor | None  # 0-dim device bool: the update was masked (None: guard off)
    stepped: list[dict]  # optimiser states whose step counter the step advanced (see guard.uncount_steps)


class _Trainer:
    """The state of one training run and the steps that change it, in the order the loop calls them.

    ``run`` is the loop; everything else is one phase of a step (``set_lr``, ``train_step``,
    ``after_step``) or one bookkeeping action (``fetch``, ``save``, ``restore_latest``, ``evaluate``).
    """

    def __init__(
        self,
        model_cfg: HRMConfig,
        cfg: TrainConfig,
        train_data: TokenDataset,
        eval_data: TokenDataset | None,
        out_dir: Path,
        callbacks: Sequence[MetricsCallback],
    ) -> None:
        self.wall_start = time.perf_counter()
        self.model_cfg, self.cfg = model_cfg, cfg
        self.train_data, self.eval_data = train_data, eval_data
        self.out_dir, self.callbacks = out_dir, callbacks
        self.info = info = distributed.setup(cfg.device)
        self.device = device = info.device
        if device.type == "cpu":
            # Denormals in the recurrence made the first minutes of CPU training ~5x slower.
            torch.set_flush_denormal(True)
        if cfg.num_threads > 0:
            # NOTE: a small model on a shared CPU wants 1 thread: with other load, spinning OpenMP workers
            # made the toy run ~15x slower at 2 threads than at 1.
            torch.set_num_threads(cfg.num_threads)
        self.local_batch, self.micro_batch = _check_batch(cfg, info.world_size)

        self.model = model = build_model(model_cfg, cfg.seed, device)
        model.train()
        self.forward = torch.compile(model) if cfg.compile else model
        self.optimizers = build_optimizers(
            model,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            betas=(cfg.beta1, cfg.beta2),
            puzzle_emb_lr=cfg.puzzle_emb_lr,
            puzzle_emb_weight_decay=cfg.puzzle_emb_weight_decay,
            adam_atan2=cfg.adam_atan2,
        )
        self.dense_params = [p for p in model.parameters() if p.requires_grad]
        self.ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.ema_model: HRM | None = None  # the EMA weights in a model of their own, for evaluations
        self.sampler = EpochSampler.from_dataset(train_data, cfg.global_batch_size, cfg.seed)
        self.n_total = total_steps(cfg, self.sampler)
        seed = cfg.seed + _EXPLORATION_SEED_OFFSET + info.rank
        self.exploration = torch.Generator(device=device).manual_seed(seed)
        self.eval_rows = (
            None if eval_data is None else eval_subset(len(eval_data), cfg.eval_max_examples, cfg.seed)
        )
        self.eval_batch = cfg.eval_batch_size or self.local_batch
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
        self.ckpt_path = out_dir / ckpt.CHECKPOINT_NAME
        self.guard = cfg.nonfinite_patience > 0

        self.step = 0
        self.start_step = 0
        # Survives restores and resumes: lr multiplier, skipped steps, restores (see the module docstring).
        self.nonfinite = {"lr_scale": 1.0, "skipped": 0, "restores": 0}
        self.consecutive_bad = 0
        self.carries: list | None = None  # one per micro-batch, made from the first batch
        self.history: list[dict[str, float]] = []
        self.evals: list[tuple[int, EvalResult]] = []
        self.pending: list[_Pending] = []
        self.bar = tqdm(total=self.n_total, disable=not (cfg.progress and info.is_main), desc="train")
        self.last_fetch = time.perf_counter()

    # ----- the loop -----

    def start(self, resume: bool) -> None:
        """Resume from the newest intact checkpoint (if asked and any), else start fresh."""
        if self.info.is_main:
            ckpt.remove_stale_temps(self.out_dir)
        if resume and (restored := self.restore_latest()) is not None:
            self.step, source = restored
            if source != self.ckpt_path:
                log.warning("resumed from %s at step %d", source, self.step)
        self.start_step = self.step
        self.bar.n = self.step
        self.bar.refresh()
        if self.guard and self.step == 0:
            self.save(0)  # the state a restore goes back to before the first interval checkpoint

    def run(self) -> None:
        cfg = self.cfg
        while self.step < self.n_total:
            lr = self.set_lr()
            self.step += 1
            self.pending.append(_Pending(self.step, lr, *self.train_step()))
            step = self.step
            last = step == self.n_total
            do_eval = self.eval_data is not None and cfg.eval_interval > 0 and step % cfg.eval_interval == 0
            interval = cfg.checkpoint_interval > 0 and step % cfg.checkpoint_interval == 0
            if last or do_eval or interval or step % max(1, cfg.log_interval) == 0:
                if self.fetch():
                    continue  # the guard restored an earlier step
            if do_eval and not last:
                result = self.evaluate(self.eval_rows)
                self.evals.append((step, result))
                self.emit(step, result.as_metrics())
            # No checkpoint after a skipped step (unless it is the last): the newest one must be a good state.
            if last or (interval and self.consecutive_bad == 0):
                self.save(step)
        self.fetch()

    def set_lr(self) -> float:
        """Set this step's lr on every param group; returns the network's lr."""
        cfg = self.cfg
        factor = lr_factor(self.step, self.n_total, cfg.lr_warmup_steps, cfg.lr_min_ratio)
        factor *= self.nonfinite["lr_scale"]
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor
        return cfg.lr * factor

    def train_step(self) -> tuple[torch.Tensor, torch.Tensor | None, list[dict]]:
        """One ACT segment per micro-batch, one update, no host sync; returns the step's device sums, its
        non-finite flag (device bool; the update is masked where it is true) and the states it stepped."""
        cfg, info = self.cfg, self.info
        rows = self.sampler.next_batch()[info.rank * self.local_batch : (info.rank + 1) * self.local_batch]
        batch = make_batch(self.train_data, rows, self.device)
        starts = range(0, self.local_batch, self.micro_batch)
        micro = [{k: v[i : i + self.micro_batch] for k, v in batch.items()} for i in starts]
        if self.carries is None:
            self.carries = [self.model.initial_carry(m) for m in micro]
        sums = torch.zeros(len(_SUM_KEYS), dtype=torch.float64, device=self.device)
        for i, mb in enumerate(micro):
            with self.autocast:
                self.carries[i], out = self.forward(self.carries[i], mb, generator=self.exploration)
            loss, metrics = compute_loss(self.carries[i], out, loss_type=cfg.loss_type)
            (loss / cfg.global_batch_size).backward()
            metrics["loss"] = loss.detach()
            sums += torch.stack([metrics[k].to(torch.float64) for k in _SUM_KEYS])
        distributed.all_reduce_grads(self.dense_params, info)
        if self.model.puzzle_emb is not None:
            distributed.sync_puzzle_embedding_grads(self.model.puzzle_emb, info)
        bad = None
        if cfg.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.dense_params, cfg.grad_clip)
        elif self.guard:
            norm = guard.grad_norm(self.dense_params)
        if self.guard:
            # The puzzle-embedding gradient is not checked on its own: it comes from the same loss through
            # the same layers, so a NaN there shows in the dense gradients too.
            bad = guard.any_rank_nonfinite(sums[0], norm, info)
            guard.drop_nonfinite_rows(self.carries)  # a no-op unless this step went non-finite
        stepped = guard.step_unless(self.optimizers, bad)
        if self.ema is not None:
            self.ema.update(self.model, bad)  # a skipped step leaves the average as it was
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        return sums, bad, stepped

    def nonfinite_restore(self, at_step: int) -> None:
        """Back to the last good checkpoint with a lower lr (or TrainingDiverged)."""
        cfg, nonfinite = self.cfg, self.nonfinite
        why = f"non-finite loss or gradients for {cfg.nonfinite_patience} steps in a row at step {at_step}"
        if nonfinite["restores"] >= cfg.nonfinite_max_restores:
            raise TrainingDiverged(
                f"{why}, after {nonfinite['restores']} restores (lr scale {nonfinite['lr_scale']:g}); "
                "lower train.lr or check the data"
            )
        kept = {**nonfinite, "restores": nonfinite["restores"] + 1}  # the checkpoint's counts are older
        kept["lr_scale"] *= cfg.nonfinite_lr_factor
        restored = self.restore_latest()
        if restored is None:
            raise TrainingDiverged(f"{why} and no intact checkpoint to go back to")
        self.step, source = restored
        nonfinite.update(kept)
        log.warning(
            "%s: restored %s (step %d), lr scale now %g", why, source.name, self.step, kept["lr_scale"]
        )
        metrics = {"train/nonfinite_restores": float(kept["restores"]), "train/lr_scale": kept["lr_scale"]}
        self.emit(self.step, metrics)
        self.bar.n = self.step
        self.bar.refresh()

    # ----- bookkeeping -----

    def fetch(self) -> bool:
        """The loop's one host sync: pending device sums and skip flags become history records and callbacks,
        and the guard acts on the flags (counts skips; after nonfinite_patience in a row, restores and
        returns True, dropping the records of the steps after the one that triggered it)."""
        if not self.pending:
            return False
        cfg, pending = self.cfg, self.pending
        self.pending = []
        sums = distributed.all_reduce_sum(torch.stack([p.sums for p in pending]), self.info)
        flags = torch.stack([p.bad for p in pending]) if self.guard else torch.zeros(len(pending), dtype=bool)
        host = to_host(torch.cat([sums, flags.to(sums).unsqueeze(1)], dim=1))
        now = time.perf_counter()
        per_step = (now - self.last_fetch) / len(pending)
        self.last_fetch = now
        for p, row in zip(pending, host, strict=True):
            skipped = bool(row[-1])
            rec = {"step": p.step, "lr": p.lr, **_summarise(row[:-1], cfg.global_batch_size)}
            rec["skipped"] = float(skipped)
            rec["examples_per_s"] = cfg.global_batch_size / per_step  # example-segments per second
            rec["solved_per_s"] = rec["halted"] / per_step  # examples that finished their ACT run
            self.history.append(rec)
            # See the module docstring: no NaN averages over zero halted rows in the logged metrics.
            logged = {
                k: v for k, v in rec.items() if k != "step" and not (k in _HALTED_KEYS and math.isnan(v))
            }
            self.emit(p.step, {f"train/{k}": float(v) for k, v in logged.items()})
            self.bar.update(1)
            if not skipped:
                self.consecutive_bad = 0
                continue
            guard.uncount_steps(p.stepped)
            self.nonfinite["skipped"] += 1
            self.consecutive_bad += 1
            if self.consecutive_bad >= cfg.nonfinite_patience:
                self.consecutive_bad = 0
                self.nonfinite_restore(p.step)
                return True
        self.bar.set_postfix(
            loss=f"{rec['loss']:.3f}", acc=f"{rec['accuracy']:.3f}", ex_s=f"{rec['examples_per_s']:.0f}"
        )
        return False

    def emit(self, at_step: int, metrics: dict[str, float]) -> None:
        if self.info.is_main:
            for cb in self.callbacks:
                cb(at_step, metrics)

    def eval_model(self) -> HRM:
        """The weights evaluations score: the EMA when on (in a copy; training goes on with the live ones)."""
        if self.ema is None:
            return self.model
        if self.ema_model is None:
            self.ema_model = copy.deepcopy(self.model)
        self.ema_model.load_state_dict(self.ema.weights(self.model))
        return self.ema_model

    def evaluate(self, rows: Sequence[int] | None) -> EvalResult:
        return evaluate(
            self.eval_model(),
            self.eval_data,
            self.eval_batch,
            device=self.device,
            precision=self.cfg.precision,
            indices=rows,
            loss_type=self.cfg.loss_type,
            dist_info=self.info,
        )

    def save(self, at_step: int) -> None:
        """Write the checkpoint (rank 0), the carries and exploration streams of every rank included."""
        info = self.info
        carry = None if self.carries is None else _gather_rows(ckpt.carry_state(self.carries), info)
        exploration = _gather_rows(self.exploration.get_state().unsqueeze(0), info)
        if info.is_main:
            train_state = {
                "step": at_step,
                "sampler": self.sampler.state_dict(),
                "rng": ckpt.rng_state(self.exploration),
                "exploration_by_rank": exploration,  # (world_size, n) generator states
                "carry": carry,  # the global carry, see the module NOTE; None before the first step
                "model_config": asdict(self.model_cfg),
                "train_config": asdict(self.cfg),
                "nonfinite": dict(self.nonfinite),
                "ema": None if self.ema is None else self.ema.state_dict(),
            }
            ckpt.save_checkpoint(self.ckpt_path, self.model, self.optimizers, train_state)
        if self.info.enabled:
            torch.distributed.barrier()  # every rank may read it back on a non-finite restore

    def restore_latest(self) -> tuple[int, Path] | None:
        """Load the newest intact checkpoint into the run; returns (its step, its file) or None."""
        found = ckpt.load_latest(self.ckpt_path, map_location=self.device)
        if found is None:
            return None
        obj, source = found
        state = ckpt.restore_checkpoint(obj, self.model, self.optimizers)
        if state["model_config"] != asdict(self.model_cfg):
            raise ValueError(f"{source} was trained with a different model config; use a new out_dir")
        self.sampler.load_state_dict(state["sampler"])
        ckpt.set_rng_state(state["rng"], self.exploration)
        by_rank = state.get("exploration_by_rank")
        if by_rank is not None and by_rank.shape[0] == self.info.world_size:
            self.exploration.set_state(
                to_host(by_rank[self.info.rank]).clone()
            )  # a view at an offset crashes
        self.nonfinite.update(state.get("nonfinite", {}))
        if self.ema is not None:
            if state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            else:  # a checkpoint of a run without EMA: the average starts at its weights
                log.warning("%s holds no EMA of the weights: the EMA starts from its weights", source)
                self.ema = WeightEMA(self.model, self.cfg.ema_decay)
        self.carries = self._carries_from(state.get("carry"), int(state["step"]), source)
        return int(state["step"]), source

    def _carries_from(self, saved: dict[str, Any] | None, step: int, source: Path) -> list | None:
        """This rank's micro-batch carries from a checkpoint's global carry (None: a fresh one)."""
        if saved is not None and saved["halted"].shape[0] == self.cfg.global_batch_size:
            start = self.info.rank * self.local_batch
            return ckpt.carries_from_state(saved, start, self.local_batch, self.cfg.grad_accum_steps)
        if step > 0:  # at step 0 there is no carry yet
            log.warning(
                "%s holds no carry for a global batch of %d: fresh carry", source, self.cfg.global_batch_size
            )
        return None

    def finish(self) -> TrainResult:
        """Final evaluation on the whole split, ``model.pt``, and the run's result."""
        final_eval = None
        model_path = None
        if self.eval_data is not None:
            final_eval = self.evaluate(
                None
            )  # periodic evals use a fixed subsample; the final one the whole split
            self.evals.append((self.step, final_eval))
            self.emit(self.step, final_eval.as_metrics())
        if self.info.is_main:
            model_path = self.out_dir / ckpt.MODEL_NAME
            ckpt.atomic_torch_save(
                ckpt.with_digest(
                    {
                        # The EMA weights when on: what evaluation, the registry and serving read.
                        "model": ckpt.strip_compile_prefix(self.eval_model().state_dict()),
                        "model_config": asdict(self.model_cfg),
                        "train_config": asdict(self.cfg),
                        "step": self.step,
                    }
                ),
                model_path,
            )
        distributed.teardown(self.info)
        nonfinite = self.nonfinite
        extra = {"nonfinite_skipped": nonfinite["skipped"], "nonfinite_restores": nonfinite["restores"]}
        extra["lr_scale"] = nonfinite["lr_scale"]
        return TrainResult(
            history=self.history,
            evals=self.evals,
            final_eval=final_eval,
            start_step=self.start_step,
            steps_done=self.step,
            total_steps=self.n_total,
            wall_s=time.perf_counter() - self.wall_start,
            model_path=model_path,
            extra=extra,
        )


def _gather_rows(tree: Any, info: distributed.DistInfo) -> Any:
    """Every rank's tensors (a dict tree) concatenated on dim 0 in rank order, on rank 0; None elsewhere."""
    if isinstance(tree, dict):
        parts = {k: _gather_rows(v, info) for k, v in tree.items()}
        return parts if info.is_main else None
    if not info.enabled:
        return tree
    send = tree.to(device=info.device, dtype=torch.uint8 if tree.dtype == torch.bool else tree.dtype)
    bucket = [torch.empty_like(send) for _ in range(info.world_size)] if info.is_main else None
    torch.distributed.gather(send, bucket, dst=0)  # gloo has no bool; NCCL wants device tensors
    if not info.is_main:
        return None
    return torch.cat(bucket).to(device=tree.device, dtype=tree.dtype)
