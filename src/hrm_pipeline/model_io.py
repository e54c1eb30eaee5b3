"""Model files and devices: what training, evaluation, inference and serving share.

Every checkpoint and model file carries a SHA-256 of its own content (``"sha256"``, see
:func:`payload_digest`) and is read with the safe unpickler (``weights_only=True``); weights are stored
without torch.compile's ``_orig_mod.`` prefix. Evaluation, inference and serving read model files through
here, so they need nothing from the training package (``train.checkpoint`` adds the resumable state on top).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrm_pipeline.errors import InputError

COMPILE_PREFIX = "_orig_mod."
DIGEST_KEY = "sha256"


class CorruptCheckpoint(InputError):
    """A checkpoint or model file that cannot be read or whose content does not match its digest."""


def unwrap(model: nn.Module) -> nn.Module:
    """The real module behind a torch.compile wrapper (or the module itself)."""
    return getattr(model, "_orig_mod", model)


def strip_compile_prefix(state_dict: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix(COMPILE_PREFIX): v for k, v in state_dict.items()}


def _hash_into(h: Any, obj: Any) -> None:
    # A canonical walk (dict keys sorted, tensors as dtype + shape + raw bytes) rather than a hash of the file
    # bytes: the digest must be computable before the file exists so it can be stored inside it.
    if isinstance(obj, torch.Tensor):
        flat = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{flat.dtype}{tuple(obj.shape)}:".encode())
        h.update(flat.view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}:".encode())
        for key in sorted(obj, key=repr):
            _hash_into(h, key)
            _hash_into(h, obj[key])
    elif isinstance(obj, list | tuple):  # the safe unpickler may give back a list for a tuple
        h.update(f"L{len(obj)}:".encode())
        for item in obj:
            _hash_into(h, item)
    else:
        h.update(f"V{obj!r};".encode())


def payload_digest(obj: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's content, its own ``"sha256"`` entry excluded."""
    h = hashlib.sha256()
    _hash_into(h, {k: v for k, v in obj.items() if k != DIGEST_KEY})
    return h.hexdigest()


def with_digest(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, DIGEST_KEY: payload_digest(obj)}


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with the safe unpickler; a file with a digest is verified against it.

    Raises CorruptCheckpoint for an unreadable (e.g. truncated) file or a digest mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncation and garbage surface as RuntimeError, EOFError, UnpicklingError...
        first = (str(err).splitlines() or [type(err).__name__])[0].split(". ")[0]  # torch adds advice
        raise CorruptCheckpoint(f"{path} is unreadable ({first})") from err
    if isinstance(obj, dict) and DIGEST_KEY in obj and payload_digest(obj) != obj[DIGEST_KEY]:
        raise CorruptCheckpoint(f"{path} does not match its sha256 digest: the file is corrupt")
    return obj


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """ "auto" -> this rank's GPU if CUDA is available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
        return torch.device("cuda", local_rank)
    return torch.device(name)
