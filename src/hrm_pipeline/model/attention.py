"""Attention kernel switch: FlashAttention (2 or 3) on CUDA when importable, else PyTorch SDPA.

Both take and return (B, S, H, Dh); attention is non-causal (every position sees every other).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BACKENDS = ("auto", "sdpa", "flash")
# FlashAttention kernels only take half-precision inputs.
_FLASH_DTYPES = (torch.float16, torch.bfloat16)

try:  # FlashAttention 3 (Hopper) first, then 2; both optional.
    from flash_attn_interface import flash_attn_func as _flash_attn_func  # type: ignore[import-not-found]
except ImportError:
    try:
        from flash_attn import flash_attn_func as _flash_attn_func  # type: ignore[import-not-found]
    except ImportError:
        _flash_attn_func = None


def flash_available() -> bool:
    """True when a FlashAttention package imported (it still needs a CUDA tensor in half precision)."""
    return _flash_attn_func is not None


def _use_flash(q: torch.Tensor, backend: str) -> bool:
    if backend == "sdpa":
        return False
    usable = flash_available() and q.is_cuda and q.dtype in _FLASH_DTYPES
    if backend == "flash" and not usable:
        raise RuntimeError(
            "attention_backend='flash' needs the flash_attn (2) or flash_attn_interface (3) package, a CUDA "
            f"device and fp16/bf16 inputs (got device={q.device}, dtype={q.dtype}, "
            f"package importable={flash_available()}); use 'auto' to fall back to SDPA"
        )
    return usable


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    out = _flash_attn_func(q, k, v, causal=False)  # type: ignore[misc]
    # NOTE: some FlashAttention 3 releases return (out, softmax_lse); FA2 returns out.
    return out[0] if isinstance(out, tuple) else out


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=False
    )
    return out.transpose(1, 2)  # (B, S, H, Dh)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """Non-causal attention over (B, S, H, Dh) tensors with the chosen backend."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; expected one of {BACKENDS}")
    if _use_flash(q, backend):
        return flash_attention(q, k, v)
    return sdpa_attention(q, k, v)
