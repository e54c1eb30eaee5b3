"""The non-finite guard without host syncs: the skip decision stays a device tensor that masks the update.

A step's ``bad`` flag (NaN/inf loss or gradient norm on any rank) is computed and all-reduced on the device.
:func:`step_unless` runs every optimizer's ``step()`` and then puts back, with ``torch.where`` on the device,
every tensor the step changed (dense parameters, their state tensors shaped like them, the puzzle-embedding
rows the batch touched) where ``bad`` is true. The host reads the flags only at the loop's next fetch
(``TrainConfig.log_interval``), where it counts the skip and undoes the one thing a device flag cannot mask:
a Python-side step counter (``state["step"]``, used by Adam's bias correction; see :func:`uncount_steps`).

Cost: a copy of the dense weights and their optimiser moments per step (3 x parameters in memory, a few
elementwise passes), instead of a host round trip that stalls the GPU queue every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hrm_pipeline.model import Carry, PuzzleEmbedding
from hrm_pipeline.train import distributed


def grad_norm(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Global L2 norm of the gradients (torch>=2.4: ``nn.utils.get_total_norm`` only exists from 2.6)."""
    norms = [torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


def any_rank_nonfinite(
    loss_sum: torch.Tensor, norm: torch.Tensor, info: distributed.DistInfo
) -> torch.Tensor:
    """A 0-dim device bool: did any rank see a non-finite loss or gradient norm this step? (no host sync)"""
    bad = (~torch.isfinite(loss_sum)) | (~torch.isfinite(norm.to(loss_sum.device)))
    return distributed.all_reduce_sum(bad.to(torch.float32), info) > 0


def _like(state: dict[str, Any], p: torch.Tensor) -> list[str]:
    """State entries the optimiser keeps per element of ``p`` (Adam's moments), not its scalar counters."""
    return [k for k, v in state.items() if k != "step" and isinstance(v, torch.Tensor) and v.shape == p.shape]


def step_unless(optimizers: Sequence[torch.optim.Optimizer], bad: torch.Tensor | None) -> list[dict]:
    """``opt.step()`` for every optimizer, undone on the device where ``bad`` is true.

    Returns the state dicts whose ``"step"`` counter the steps advanced, for :func:`uncount_steps`.
    """
    if bad is None:
        for opt in optimizers:
            opt.step()
        return []
    restore: list[tuple[torch.Tensor, torch.Tensor | None]] = []  # (tensor, value before; None = was absent)
    rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (table, ids, rows before)
    fresh: list[tuple[dict, torch.Tensor]] = []  # states the step creates: reset to zero where bad
    stepped: list[dict] = []
    for opt in optimizers:
        embedding = getattr(opt, "embedding", None)
        if isinstance(embedding, PuzzleEmbedding):
            # NOTE: only the touched rows of the (possibly ~1M-row) table are copied; the ids are read from
            # the embedding's pending list, as distributed.sync_puzzle_embedding_grads does.
            if embedding._pending:
                ids = torch.cat([i for i, _ in embedding._pending])
                rows.append((embedding.weight, ids, embedding.weight[ids].clone()))
            continue
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = opt.state[p]
                restore.append((p, p.detach().clone()))
                if state:
                    restore += [(state[k], state[k].clone()) for k in _like(state, p)]
                else:
                    fresh.append((state, p))
                stepped.append(state)
    for opt in optimizers:
        opt.step()
    with torch.no_grad():
        for tensor, before in restore:
            tensor.copy_(torch.where(bad, before, tensor))
        for state, p in fresh:  # optimisers start their moments at zero
            for k in _like(state, p):
                state[k].copy_(torch.where(bad, torch.zeros_like(state[k]), state[k]))
        for table, ids, before in rows:
            table.index_copy_(0, ids, torch.where(bad, before, table[ids]))
    return [s for s in stepped if "step" in s]


def uncount_steps(stepped: Sequence[dict]) -> None:
    """Take back the step counters a skipped step advanced (read at the fetch: until then, for fewer than
    log_interval steps, Adam's bias correction counts the skipped step too)."""
    for state in stepped:
        state["step"] -= 1


def drop_nonfinite_rows(carries: Sequence[Carry]) -> None:
    """Mark carried rows whose z_H or z_L holds a NaN/inf as halted: next step gives them fresh examples."""
    for carry in carries:
        finite = torch.isfinite(carry.z_H).flatten(1).all(1) & torch.isfinite(carry.z_L).flatten(1).all(1)
        carry.halted = carry.halted | ~finite
