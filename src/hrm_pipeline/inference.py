"""Running a trained HRM on token arrays: the one inference path of evaluation, the registry and `hrm solve`.

A :class:`Predictor` wraps a ``model.pt`` (or ``checkpoint.pt``) and runs ACT segments itself rather than
through ``HRM.forward``: the wrapper there resets a row once it reaches the trained ``halt_max_steps``, while
inference-time scaling needs to run further, and `hrm solve` stops each row where its Q-head says halt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hrm_pipeline.model import HRM, HRMConfig
from hrm_pipeline.model_io import load, strip_compile_prefix

HALT_MODES = ("max", "q")  # "max": every row runs max_steps (the paper's evaluation); "q": stop at Q-halt


@dataclass
class Prediction:
    tokens: np.ndarray  # (N, seq_len) argmax tokens of the segment each row stopped at
    steps: np.ndarray  # (N,) segments each row ran
    q_halt: np.ndarray  # (N,) halting logit at that segment
    q_continue: np.ndarray  # (N,) continue logit at that segment
    z_H: np.ndarray | None = None  # (N, P + S, D) final high-level state when asked for (participation ratio)
    z_L: np.ndarray | None = None  # (N, P + S, D) final low-level state


@dataclass
class SegmentRun:
    """What the ACT loop leaves on the device, per row, at the segment the row stopped at."""

    logits: torch.Tensor  # (B, S, V)
    steps: torch.Tensor  # (B,) int64 segments run
    q_halt: torch.Tensor  # (B,) float32
    q_continue: torch.Tensor  # (B,) float32
    z_H: torch.Tensor | None = None  # (B, P + S, D) when asked for
    z_L: torch.Tensor | None = None


class Predictor:
    """A trained HRM in eval mode on one device."""

    def __init__(self, model: HRM, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    @property
    def config(self) -> HRMConfig:
        return self.model.config

    @classmethod
    def from_file(cls, path: str | Path, device: torch.device | str = "cpu") -> Predictor:
        """Load ``model.pt`` or ``checkpoint.pt`` written by :func:`hrm_pipeline.train.train`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {path}")
        obj = load(path, map_location=device)
        config_dict = obj.get("model_config") or obj.get("train_state", {}).get("model_config")
        if config_dict is None:
            raise ValueError(f"{path} holds no model_config; is it a file written by `hrm train`?")
        model = HRM(HRMConfig(**config_dict))
        model.load_state_dict(strip_compile_prefix(obj["model"]))
        return cls(model, device)

    @torch.no_grad()
    def predict(
        self,
        inputs: np.ndarray,
        puzzle_identifiers: np.ndarray | None = None,
        *,
        max_steps: int | None = None,
        halt: str = "max",
        batch_size: int = 256,
        return_states: bool = False,
    ) -> Prediction:
        """Answers for ``inputs`` (N, seq_len) tokens; ``max_steps`` defaults to the trained budget."""
        if halt not in HALT_MODES:
            raise ValueError(f"halt must be one of {HALT_MODES}, got {halt!r}")
        cfg = self.config
        inputs = np.asarray(inputs)
        if inputs.ndim != 2 or inputs.shape[1] != cfg.seq_len:
            raise ValueError(f"inputs must be (N, {cfg.seq_len}) tokens, got shape {inputs.shape}")
        if inputs.size and (inputs.min() < 0 or inputs.max() >= cfg.vocab_size):
            raise ValueError(f"input tokens must lie in [0, {cfg.vocab_size})")
        if puzzle_identifiers is None:
            puzzle_identifiers = np.zeros(len(inputs), dtype=np.int64)
        max_steps = cfg.halt_max_steps if max_steps is None else int(max_steps)
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        parts = [
            self._predict_batch(
                inputs[i : i + batch_size],
                puzzle_identifiers[i : i + batch_size],
                max_steps,
                halt,
                return_states,
            )
            for i in range(0, len(inputs), batch_size)
        ]
        if not parts:
            empty = np.zeros((0, cfg.seq_len), dtype=np.int64)
            return Prediction(empty, np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))
        return Prediction(
            *(np.concatenate([p[k] for p in parts]) for k in range(4)),
            *((np.concatenate([p[k] for p in parts]) if return_states else None) for k in (4, 5)),
        )

    def _predict_batch(self, inputs, puzzle_identifiers, max_steps, halt, return_states):
        data = {
            "inputs": torch.as_tensor(np.asarray(inputs, dtype=np.int64), device=self.device),
            "puzzle_identifiers": torch.as_tensor(
                np.asarray(puzzle_identifiers, dtype=np.int64), device=self.device
            ),
        }
        run = self.run_segments(data, max_steps, halt=halt, return_states=return_states)
        result = [run.logits.argmax(-1), run.steps, run.q_halt, run.q_continue]
        result = [t.cpu().numpy() for t in result]
        if return_states:
            result += [run.z_H.float().cpu().numpy(), run.z_L.float().cpu().numpy()]
        return result

    @torch.no_grad()
    def run_segments(
        self, data: dict[str, torch.Tensor], max_steps: int, *, halt: str = "max", return_states: bool = False
    ) -> SegmentRun:
        """The ACT loop on device tensors (``inputs``, ``puzzle_identifiers``).

        Every row starts from the initial states; it stops at ``max_steps`` or, with ``halt="q"``, where its
        Q-head says halt, and keeps the outputs of the segment it stopped at. Training's periodic evaluation
        runs this loop too (train.evaluate), so there is one.
        """
        net, cfg = self.model, self.config
        size = data["inputs"].shape[0]
        shape = (size, cfg.total_len, cfg.hidden_size)
        z_H, z_L = net.H_init.expand(shape).clone(), net.L_init.expand(shape).clone()
        logits_out = None
        steps = torch.zeros(size, dtype=torch.int64, device=self.device)
        q_h = torch.zeros(size, device=self.device)
        q_c = torch.zeros(size, device=self.device)
        out_H, out_L = (z_H.clone(), z_L.clone()) if return_states else (None, None)
        running = torch.ones(size, dtype=torch.bool, device=self.device)
        for step in range(1, max_steps + 1):
            z_H, z_L, logits, q_halt, q_continue = net.segment(z_H, z_L, data)
            # Rows that already halted keep their answer; running rows take this segment's.
            keep = running.view(-1, 1, 1)
            logits_out = logits if logits_out is None else torch.where(keep, logits, logits_out)
            steps = torch.where(running, step, steps)
            q_h = torch.where(running, q_halt.float(), q_h)
            q_c = torch.where(running, q_continue.float(), q_c)
            if return_states:
                out_H = torch.where(keep, z_H, out_H)
                out_L = torch.where(keep, z_L, out_L)
            if halt == "q":
                running = running & ~net.halts(q_halt, q_continue)
                if not running.any():
                    break
        return SegmentRun(logits=logits_out, steps=steps, q_halt=q_h, q_continue=q_c, z_H=out_H, z_L=out_L)
