"""Per-puzzle embeddings: a large table kept as a buffer and trained only on the rows a batch touches.

NOTE: on ARC the table has ~1M rows x hidden. A dense parameter would make every optimiser step touch (and
keep Adam moments for) the whole table. Instead the training forward gathers the batch's rows into a small
leaf tensor that requires grad and remembers the ids; `SparseSignSGD` (optim.py) reads that leaf's gradient
and writes the update into the touched rows of the table.
"""

from __future__ import annotations

import torch
from torch import nn


class PuzzleEmbedding(nn.Module):
    """Zero-initialised (num_identifiers, dim) table; identifier 0 is the blank puzzle."""

    def __init__(self, num_identifiers: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(num_identifiers, dim))
        # (ids, leaf) pairs gathered by training forwards since the last optimiser step; several forwards
        # before a step (gradient accumulation) each add one pair; the optimiser sums their gradients per id.
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        del generator  # zero init: a new puzzle starts neutral, as in the paper
        with torch.no_grad():
            self.weight.zero_()

    @torch.compiler.disable
    def _gather_trainable(self, ids: torch.Tensor) -> torch.Tensor:
        # Kept out of compiled graphs: it creates a fresh autograd leaf and records it (a Python side effect).
        rows = self.weight[ids].detach().requires_grad_(True)  # (B, dim)
        self._pending.append((ids.detach(), rows))
        return rows

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            return self._gather_trainable(ids)
        return self.weight[ids]  # (B, dim): no gradient wanted

    def pop_pending_grads(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Return (unique ids, summed gradient per id) of all recorded forwards, and forget them.

        Forwards whose leaf received no gradient (no backward was run) are dropped. None when nothing is left.
        """
        pending, self._pending = self._pending, []
        pairs = [(ids, rows.grad) for ids, rows in pending if rows.grad is not None]
        if not pairs:
            return None
        ids = torch.cat([i for i, _ in pairs])
        grads = torch.cat([g for _, g in pairs])
        # NOTE: torch.unique syncs with the host (its output size depends on the data); this happens once per
        # optimiser step, never inside the forward or the loss.
        unique_ids, inverse = torch.unique(ids, return_inverse=True)
        summed = torch.zeros(unique_ids.shape[0], grads.shape[1], dtype=grads.dtype, device=grads.device)
        summed.index_add_(0, inverse, grads)
        return unique_ids, summed

    def clear_pending(self) -> None:
        self._pending = []
