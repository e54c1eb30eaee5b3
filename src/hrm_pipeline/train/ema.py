"""Exponential moving average of the trainable weights (TRM evaluates and ships the EMA, decay 0.999).

After every optimizer step each shadow tensor moves toward its weight:
``shadow += (1 - decay) * (w - shadow)``.
Only the dense trainable parameters are averaged; buffers (the puzzle-embedding table, RoPE tables) are taken
from the live model when the EMA weights are put into a model, as the TRM paper's EMA does.

Hand-written rather than ``torch.optim.swa_utils.AveragedModel`` because a step the non-finite guard skips
must leave the average untouched without a host sync: the update's weight is masked by the guard's device
flag (``bad``), which AveragedModel's update cannot take. The state is a plain name -> tensor dict, so it
rides in the checkpoint under the safe unpickler and a resumed run continues the same average.
"""

from __future__ import annotations

import torch
from torch import nn


class WeightEMA:
    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        # Starts at the initial weights, so early evaluations see a (lagging) average, never zeros.
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: nn.Module, bad: torch.Tensor | None = None) -> None:
        """One EMA step after an optimizer step; a no-op where the device flag ``bad`` is true."""
        weight: float | torch.Tensor = 1.0 - self.decay
        if bad is not None:
            weight = torch.where(bad, 0.0, weight).to(torch.float32)
        for name, p in model.named_parameters():
            if name in self.shadow:
                shadow = self.shadow[name]
                shadow.lerp_(p.detach(), weight if isinstance(weight, float) else weight.to(shadow.dtype))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state.keys() != self.shadow.keys():
            missing = sorted(set(self.shadow) ^ set(state))
            raise ValueError(f"EMA state does not match the model's parameters: {missing[:5]}")
        for name, tensor in state.items():
            self.shadow[name].copy_(tensor)

    def weights(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """``model``'s state dict with the averaged tensors in place of its trainable weights."""
        state = model.state_dict()
        return {k: self.shadow.get(k, v).detach().clone() for k, v in state.items()}
