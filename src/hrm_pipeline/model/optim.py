"""Optimisers for HRM: Adam-atan2 for the dense weights, sign-SGD for the sparse puzzle embeddings.

Both are plain PyTorch (no compiled extension to build). Each param group carries "base_lr" so a scheduler can
set group["lr"] = group["base_lr"] * factor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from hrm_pipeline.model.sparse_embedding import PuzzleEmbedding

DEFAULT_BETAS = (0.9, 0.95)
# Where Adam-atan2 applies the first-moment bias correction (see AdamAtan2).
ATAN2_MODES = ("reference", "inside")


def _check_lr_wd(lr: float, weight_decay: float) -> None:
    if lr < 0 or weight_decay < 0:
        raise ValueError(f"lr and weight_decay must be >= 0, got lr={lr}, weight_decay={weight_decay}")


def _record_base_lr(opt: torch.optim.Optimizer) -> None:
    """Schedulers set ``lr = base_lr * factor``; keep the configured lr beside it."""
    for group in opt.param_groups:
        group.setdefault("base_lr", group["lr"])


def _run_closure(closure):
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class AdamAtan2(torch.optim.Optimizer):
    """Adam with an atan2 update instead of m_hat / (sqrt(v_hat) + eps).

    mode "reference" (default; the form the reference HRM trains with):
        p -= (lr / (1 - beta1^t)) * atan2(m, sqrt(v) / sqrt(1 - beta2^t))
    mode "inside" (both corrections inside the atan2):
        p -= lr * atan2(m_hat, sqrt(v_hat))
    They agree once the corrections fade (~50 steps at the default betas); at step 1 "reference" moves
    (1/0.1) * atan(0.1) = 0.9967 per unit lr, "inside" pi/4 = 0.7854 (21% less).
    atan2 is bounded and scale-invariant, so no epsilon is needed. Decoupled weight decay: p *= 1 - lr * wd.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-4,
        betas: tuple[float, float] = DEFAULT_BETAS,
        weight_decay: float = 0.0,
        mode: str = "reference",
    ) -> None:
        _check_lr_wd(lr, weight_decay)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if mode not in ATAN2_MODES:
            raise ValueError(f"Adam-atan2 mode must be one of {ATAN2_MODES}, got {mode!r}")
        defaults = {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay, "mode": mode}
        super().__init__(params, defaults)
        _record_base_lr(self)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                grad = p.grad
                m, v = state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1.0 - lr * wd)
                m.lerp_(grad, 1.0 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                bc1, bc2 = 1.0 - beta1**t, 1.0 - beta2**t
                if group["mode"] == "reference":
                    p.add_(torch.atan2(m, v.sqrt() / math.sqrt(bc2)), alpha=-lr / bc1)
                else:
                    p.add_(torch.atan2(m / bc1, (v / bc2).sqrt()), alpha=-lr)
        return loss


class SparseSignSGD(torch.optim.Optimizer):
    """Sign-SGD on the rows of a PuzzleEmbedding table that the batch(es) since the last step touched.

    Per touched id: row *= 1 - lr * wd; row -= lr * sign(sum of its gradients over the batch and over every
    forward since the last step). Untouched rows do not change (not even by weight decay).
    """

    def __init__(self, embedding: PuzzleEmbedding, lr: float = 1e-4, weight_decay: float = 0.0) -> None:
        _check_lr_wd(lr, weight_decay)
        self.embedding = embedding
        super().__init__([embedding.weight], {"lr": lr, "weight_decay": weight_decay})
        _record_base_lr(self)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = _run_closure(closure)
        pending = self.embedding.pop_pending_grads()
        if pending is None:
            return loss
        ids, grads = pending
        group = self.param_groups[0]
        # Read the table from the module, not the group: model.to(device) may have replaced the tensor.
        table = self.embedding.weight
        rows = table[ids] * (1.0 - group["lr"] * group["weight_decay"]) - group["lr"] * grads.sign()
        table.index_copy_(0, ids, rows.to(table.dtype))
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none=set_to_none)
        self.embedding.clear_pending()


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)  # a torch.compile wrapper holds the real module here


def build_optimizers(
    model: nn.Module,
    lr: float = 1e-4,
    weight_decay: float = 1.0,
    betas: tuple[float, float] = DEFAULT_BETAS,
    puzzle_emb_lr: float = 1e-4,
    puzzle_emb_weight_decay: float = 1.0,
    adam_atan2: str = "reference",
) -> list[torch.optim.Optimizer]:
    """[SparseSignSGD for the puzzle embedding (if any), AdamAtan2 (mode `adam_atan2`) for the weights]."""
    model = _unwrap(model)
    optimizers: list[torch.optim.Optimizer] = []
    puzzle_emb = getattr(model, "puzzle_emb", None)
    if isinstance(puzzle_emb, PuzzleEmbedding):
        optimizers.append(SparseSignSGD(puzzle_emb, lr=puzzle_emb_lr, weight_decay=puzzle_emb_weight_decay))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizers.append(AdamAtan2(params, lr=lr, betas=betas, weight_decay=weight_decay, mode=adam_atan2))
    return optimizers
