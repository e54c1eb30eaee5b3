"""Evaluation during and after training: every row runs the full ``halt_max_steps`` segments.

The segments run in the one inference loop (``Predictor.run_segments``); this module adds the loss and the
summed metrics, sharded over DDP ranks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from hrm_pipeline.data.storage import TokenDataset
from hrm_pipeline.inference import Predictor
from hrm_pipeline.model import Carry, compute_loss
from hrm_pipeline.model_io import unwrap
from hrm_pipeline.train.distributed import DistInfo, all_reduce_sum
from hrm_pipeline.train.sampler import make_batch

# Order of the summed metric vector (one host fetch per evaluation, one all-reduce under DDP).
_SUM_KEYS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss")


@dataclass
class EvalResult:
    accuracy: float  # mean over examples of the per-example token accuracy
    exact_accuracy: float  # fraction of examples with every token right
    q_halt_accuracy: float  # fraction where (q_halt >= 0) agrees with exactness
    mean_steps: float  # segments run (halt_max_steps in eval mode)
    lm_loss: float  # mean per-example answer loss
    num_examples: int

    def as_metrics(self, prefix: str = "eval/") -> dict[str, float]:
        return {f"{prefix}{k}": float(v) for k, v in asdict(self).items()}


def eval_subset(num_rows: int, max_examples: int, seed: int) -> np.ndarray:
    """A fixed, sorted, seeded subsample of row indices (all rows when ``max_examples`` is 0 or too big)."""
    if max_examples <= 0 or max_examples >= num_rows:
        return np.arange(num_rows)
    return np.sort(np.random.default_rng(seed).choice(num_rows, size=max_examples, replace=False))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: TokenDataset,
    batch_size: int,
    *,
    device: torch.device | str | None = None,
    precision: str = "fp32",
    indices: np.ndarray | None = None,
    loss_type: str = "stablemax",
    dist_info: DistInfo | None = None,
) -> EvalResult:
    """Token / exact accuracy and mean steps of ``model`` on ``data`` (or its rows ``indices``).

    Under DDP each rank evaluates an interleaved shard and the sums are all-reduced, so every rank returns the
    same result.
    """
    net = unwrap(model)
    device = torch.device(device) if device is not None else next(net.parameters()).device
    info = dist_info or DistInfo(device=device)
    rows = np.arange(len(data)) if indices is None else np.asarray(indices)
    rows = rows[info.rank :: info.world_size]
    max_steps = net.config.halt_max_steps
    was_training = net.training
    predictor = Predictor(net, device)  # switches net to eval mode
    sums = torch.zeros(len(_SUM_KEYS), dtype=torch.float64, device=device)
    try:
        for start in range(0, len(rows), batch_size):
            batch = make_batch(data, rows[start : start + batch_size], device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                run = predictor.run_segments(batch, max_steps)
            # Every row ran max_steps segments and halted there: score that last segment.
            halted = Carry(
                z_H=run.z_H,
                z_L=run.z_L,
                steps=run.steps.to(torch.int32),
                halted=torch.ones_like(run.steps, dtype=torch.bool),
                current_data=batch,
            )
            out = {"logits": run.logits, "q_halt_logits": run.q_halt, "q_continue_logits": run.q_continue}
            _, metrics = compute_loss(halted, out, loss_type=loss_type)
            sums += torch.stack([metrics[k].to(torch.float64) for k in _SUM_KEYS])
    finally:
        net.train(was_training)
    total = dict(zip(_SUM_KEYS, all_reduce_sum(sums, info).tolist(), strict=True))
    count = total["count"]

    def mean(key: str) -> float:
        return total[key] / count if count else math.nan

    return EvalResult(
        accuracy=mean("accuracy"),
        exact_accuracy=mean("exact_accuracy"),
        q_halt_accuracy=mean("q_halt_accuracy"),
        mean_steps=mean("steps"),
        lm_loss=mean("lm_loss"),
        num_examples=int(count),
    )
