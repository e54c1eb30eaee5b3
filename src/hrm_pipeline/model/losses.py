"""HRM losses: stablemax / softmax cross-entropy for the answer, BCE for the two Q-head outputs.

Reductions follow the reference: per-sequence mean over valid tokens, SUMMED over rows; the trainer divides by
the global batch size. Metrics are sums too (the trainer divides by `count` or the batch size), and every
value stays a tensor so a training step never waits on the host.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hrm_pipeline.model.hrm import Carry

IGNORE_LABEL = -100
LOSS_TYPES = ("stablemax", "softmax")
# total = lm + Q_LOSS_WEIGHT * (q_halt + q_continue), the paper's weighting of the Q-learning terms.
Q_LOSS_WEIGHT = 0.5


def stablemax_s(x: torch.Tensor) -> torch.Tensor:
    """s(x) = 1/(1-x) for x < 0, x + 1 otherwise: a softmax substitute that does not overflow."""
    # Clamp so the unselected branch stays finite (a where() over inf would poison the gradient with NaN).
    return torch.where(x < 0, 1.0 / (1.0 - x.clamp(max=0.0)), x.clamp(min=0.0) + 1.0)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s = stablemax_s(x)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL
) -> torch.Tensor:
    """Per-token stablemax CE (..., ) computed in float64; 0 at ignored positions."""
    log_probs = log_stablemax(logits.to(torch.float64))
    valid = labels != ignore_index
    picked = log_probs.gather(-1, torch.where(valid, labels, 0).unsqueeze(-1)).squeeze(-1)
    return torch.where(valid, -picked, 0.0)


def softmax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL
) -> torch.Tensor:
    """Per-token softmax CE (..., ) in float32; 0 at ignored positions."""
    flat = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        labels.reshape(-1),
        ignore_index=ignore_index,
        reduction="none",
    )
    return flat.view(labels.shape)


def compute_loss(
    carry: Carry,
    outputs: dict[str, torch.Tensor],
    loss_type: str = "stablemax",
    ignore_index: int = IGNORE_LABEL,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss (scalar, summed over rows) and metrics for one segment.

    Metrics: `count` (rows that halted this step and have at least one valid label), and over those rows
    the sums `accuracy` (per-row token accuracy), `exact_accuracy`, `q_halt_accuracy`, `steps`. The loss
    entries `lm_loss`, `q_halt_loss`, `q_continue_loss` are summed over ALL rows, like the returned loss
    (divide them by the batch size, the others by `count`).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    labels = carry.current_data["labels"]
    logits = outputs["logits"]
    q_halt = outputs["q_halt_logits"]

    valid = labels != ignore_index  # (B, S)
    valid_counts = valid.sum(-1)  # (B,)
    divisor = valid_counts.clamp(min=1).unsqueeze(-1)
    correct = valid & (logits.argmax(-1) == labels)
    seq_correct = correct.sum(-1) == valid_counts  # (B,)

    ce = stablemax_cross_entropy if loss_type == "stablemax" else softmax_cross_entropy
    lm_loss = (ce(logits, labels, ignore_index) / divisor).sum().float()
    q_halt_loss = F.binary_cross_entropy_with_logits(q_halt, seq_correct.to(q_halt.dtype), reduction="sum")
    if "target_q_continue" in outputs:
        q_continue_loss = F.binary_cross_entropy_with_logits(
            outputs["q_continue_logits"], outputs["target_q_continue"].to(q_halt.dtype), reduction="sum"
        )
    else:  # evaluation: no bootstrap target
        q_continue_loss = torch.zeros((), dtype=q_halt.dtype, device=q_halt.device)
    loss = lm_loss + Q_LOSS_WEIGHT * (q_halt_loss + q_continue_loss)

    with torch.no_grad():
        counted = carry.halted & (valid_counts > 0)
        metrics = {
            "count": counted.sum(),
            "accuracy": torch.where(counted, correct.sum(-1) / divisor.squeeze(-1), 0.0).sum(),
            "exact_accuracy": (counted & seq_correct).sum(),
            "q_halt_accuracy": (counted & ((q_halt >= 0) == seq_correct)).sum(),
            "steps": torch.where(counted, carry.steps, 0).sum(),
            "lm_loss": lm_loss.detach(),
            "q_halt_loss": q_halt_loss.detach(),
            "q_continue_loss": q_continue_loss.detach(),
        }
    return loss, metrics
