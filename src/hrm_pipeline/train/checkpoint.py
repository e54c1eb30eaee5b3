"""Checkpoints: model + optimisers + training state; atomic, verified on load, ``weights_only=True``.

Everything stored is tensors or plain Python values (RNG states as uint8 tensors, the sampler as ints), so the
safe unpickler suffices. Model weights are always saved without torch.compile's ``_orig_mod.`` prefix, and
loading strips it too, so checkpoints from elsewhere load into an uncompiled model.

Integrity: every checkpoint and model file carries a SHA-256 of its own content (``"sha256"``, see
:func:`payload_digest`). The digest lives inside the file, not in a sidecar, so a checkpoint stays one file
that one rename publishes (a kill can never leave a file and its hash out of step) and still loads with the
safe unpickler. torch.load alone does not notice a flipped byte inside tensor data; the digest does. Saving
keeps the previous checkpoint as ``checkpoint.prev.pt``; :func:`load_latest` falls back to it when the newest
one is truncated or corrupt.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrm_pipeline.atomic import atomic_write
from hrm_pipeline.model import Carry
from hrm_pipeline.model_io import (  # noqa: F401  (re-exported: checkpoint files are model files too)
    COMPILE_PREFIX,
    DIGEST_KEY,
    CorruptCheckpoint,
    load,
    payload_digest,
    strip_compile_prefix,
    unwrap,
    with_digest,
)

CHECKPOINT_NAME = "checkpoint.pt"  # the latest resumable state (model + optimisers + training state)
MODEL_NAME = "model.pt"  # final weights + configs, what evaluation and the registry read
PREVIOUS_SUFFIX = ".prev"  # checkpoint.pt -> checkpoint.prev.pt: the fallback when the newest is damaged
CORRUPT_SUFFIX = ".corrupt"  # a damaged checkpoint is renamed aside (kept for inspection, never loaded again)
FORMAT_VERSION = 2  # 2: content digest inside the file; 1 (no digest) still loads, unverified

log = logging.getLogger(__name__)


TEMP_SUFFIX = ".tmp"  # a save's unpublished file: .checkpoint.pt.<random>.tmp


def atomic_torch_save(obj: Any, path: Path, keep_previous: Path | None = None) -> None:
    """torch.save to a temp file beside ``path``, fsync, then rename over it: never a half-written file."""
    atomic_write(
        path,
        lambda tmp: torch.save(obj, tmp),
        fsync=True,
        keep_previous=keep_previous,
        temp_suffix=TEMP_SUFFIX,
    )


def previous_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}{PREVIOUS_SUFFIX}{path.suffix}")


def remove_stale_temps(folder: Path) -> None:
    """Delete temp files a killed save left behind (they would otherwise pile up in the DVC output)."""
    for name in (CHECKPOINT_NAME, MODEL_NAME):
        for stale in Path(folder).glob(f".{name}.*{TEMP_SUFFIX}"):
            stale.unlink(missing_ok=True)


def load_latest(path: Path, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], Path] | None:
    """The newest intact checkpoint among ``path`` and its previous copy, with the file it came from.

    A damaged file is logged and renamed aside (``*.corrupt``) so later saves never rotate it into the
    fallback slot. None when no intact checkpoint exists (a fresh start).
    """
    for candidate in (Path(path), previous_path(path)):
        try:
            return load(candidate, map_location=map_location), candidate
        except FileNotFoundError:
            continue
        except CorruptCheckpoint as err:
            aside = candidate.with_name(candidate.name + CORRUPT_SUFFIX)
            try:
                os.replace(candidate, aside)
            except FileNotFoundError:
                pass  # another rank of the same run set it aside first
            log.warning("%s; moved it to %s and trying the previous checkpoint", err, aside.name)
    return None


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizers: list[torch.optim.Optimizer],
    train_state: dict[str, Any],
) -> None:
    """Write a verified checkpoint at ``path``; the one it replaces stays as ``previous_path(path)``.

    Publication is two renames (current -> previous, new -> current). A kill between them leaves no
    ``path`` but an intact previous one, which :func:`load_latest` then uses.
    """
    path = Path(path)
    payload = with_digest(
        {
            "format_version": FORMAT_VERSION,
            "model": strip_compile_prefix(unwrap(model).state_dict()),
            "optimizers": [opt.state_dict() for opt in optimizers],
            "train_state": train_state,
        }
    )
    atomic_torch_save(payload, path, keep_previous=previous_path(path))


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


def carry_state(carries: list[Carry]) -> dict[str, Any]:
    """The micro-batch carries of one process as one carry over their rows (micro-batch order), as tensors."""
    return {
        "z_H": torch.cat([c.z_H for c in carries]),
        "z_L": torch.cat([c.z_L for c in carries]),
        "steps": torch.cat([c.steps for c in carries]),
        "halted": torch.cat([c.halted for c in carries]),
        "current_data": {k: torch.cat([c.current_data[k] for c in carries]) for k in carries[0].current_data},
    }


def carries_from_state(state: dict[str, Any], start: int, size: int, parts: int) -> list[Carry]:
    """Rows ``start : start + size`` of a saved carry, split into ``parts`` equal micro-batch carries."""

    def rows(t: torch.Tensor, i: int) -> torch.Tensor:
        lo = start + i * (size // parts)
        return t[lo : lo + size // parts].clone()

    return [
        Carry(
            z_H=rows(state["z_H"], i),
            z_L=rows(state["z_L"], i),
            steps=rows(state["steps"], i),
            halted=rows(state["halted"], i),
            current_data={k: rows(v, i) for k, v in state["current_data"].items()},
        )
        for i in range(parts)
    ]
