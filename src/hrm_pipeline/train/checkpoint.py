"""Checkpoints: model + optimisers + training state, written atomically, loadable with ``weights_only=True``.

Everything stored is tensors or plain Python values (RNG states as uint8 tensors, the sampler as ints), so the
safe unpickler suffices. Model weights are always saved without torch.compile's ``_orig_mod.`` prefix, and
loading strips it too, so checkpoints from elsewhere load into an uncompiled model.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

COMPILE_PREFIX = "_orig_mod."
CHECKPOINT_NAME = "checkpoint.pt"  # the latest resumable state (model + optimisers + training state)
MODEL_NAME = "model.pt"  # final weights + configs, what evaluation and the registry read
FORMAT_VERSION = 1


def unwrap(model: nn.Module) -> nn.Module:
    """The real module behind a torch.compile wrapper (or the module itself)."""
    return getattr(model, "_orig_mod", model)


def strip_compile_prefix(state_dict: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix(COMPILE_PREFIX): v for k, v in state_dict.items()}


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file beside ``path``, fsync, then rename over it: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return torch.load(Path(path), map_location=map_location, weights_only=True)


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizers: list[torch.optim.Optimizer],
    train_state: dict[str, Any],
) -> None:
    atomic_torch_save(
        {
            "format_version": FORMAT_VERSION,
            "model": strip_compile_prefix(unwrap(model).state_dict()),
            "optimizers": [opt.state_dict() for opt in optimizers],
            "train_state": train_state,
        },
        path,
    )


def restore_checkpoint(
    ckpt: dict[str, Any], model: nn.Module, optimizers: list[torch.optim.Optimizer]
) -> dict[str, Any]:
    """Load weights and optimiser states into ``model``/``optimizers``; return the training state."""
    unwrap(model).load_state_dict(strip_compile_prefix(ckpt["model"]))
    if len(ckpt["optimizers"]) != len(optimizers):
        raise ValueError(f"checkpoint has {len(ckpt['optimizers'])} optimisers, model has {len(optimizers)}")
    for opt, state in zip(optimizers, ckpt["optimizers"], strict=True):
        opt.load_state_dict(state)
    return ckpt["train_state"]


def load_model_weights(model: nn.Module, path: Path) -> dict[str, Any]:
    """Load a ``model.pt`` or ``checkpoint.pt`` (compiled or not) into ``model``; return the loaded file."""
    obj = load(path)
    unwrap(model).load_state_dict(strip_compile_prefix(obj["model"]))
    return obj


def rng_state(exploration: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "exploration": exploration.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], exploration: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    exploration.set_state(state["exploration"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
