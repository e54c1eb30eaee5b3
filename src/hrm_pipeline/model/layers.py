"""Leaf layers of HRM: init, RMSNorm, RoPE, linear/embedding, attention, SwiGLU, the post-norm block.

The block's token mixer is attention or an MLP over positions (TRM-MLP).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hrm_pipeline.model.attention import attention

# Truncate normal draws at +-2 sigma, as the reference does (keeps rare huge weights out of the init).
TRUNC_BOUND = 2.0
# Std of a standard normal truncated to [-a, a]: sqrt(1 - 2*a*phi(a)/(2*Phi(a)-1)) at a=2. Dividing the
# requested std by it gives the *truncated* distribution the requested std (torch's trunc_normal_ does not).
_TRUNC_STD_AT_2 = math.sqrt(
    1.0
    - 2.0
    * TRUNC_BOUND
    * math.exp(-0.5 * TRUNC_BOUND**2)
    / math.sqrt(2 * math.pi)
    / math.erf(TRUNC_BOUND / math.sqrt(2))
)
# SwiGLU's hidden width is rounded up to this multiple (matmul-friendly tile size, as in the reference).
SWIGLU_MULTIPLE = 256


def trunc_normal_(tensor: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill `tensor` in place from a normal truncated at +-2 sigma whose *resulting* std is `std`."""
    if tensor.device.type == "meta":  # shape-only construction (e.g. counting parameters): nothing to draw
        return tensor
    sigma = std / _TRUNC_STD_AT_2
    with torch.no_grad():
        return nn.init.trunc_normal_(
            tensor, mean=0.0, std=sigma, a=-TRUNC_BOUND * sigma, b=TRUNC_BOUND * sigma, generator=generator
        )


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learnable scale; statistics in float32 for bf16 stability, result in x's dtype."""
    xf = x.float()
    xf = xf * torch.rsqrt(xf.square().mean(-1, keepdim=True) + eps)
    return xf.to(x.dtype)


def swiglu_width(hidden_size: int, expansion: float) -> int:
    """Inner width: round(expansion * hidden * 2/3), rounded up to a multiple of SWIGLU_MULTIPLE."""
    width = round(expansion * hidden_size * 2 / 3)
    return -(-width // SWIGLU_MULTIPLE) * SWIGLU_MULTIPLE


class CastedLinear(nn.Module):
    """Bias-free linear with fp32 master weights, cast to the input's dtype; LeCun trunc-normal init."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        trunc_normal_(self.weight, std=1.0 / math.sqrt(self.weight.shape[1]), generator=generator)
        if self.bias is not None:
            with torch.no_grad():
                self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    """Embedding table with fp32 master weights and trunc-normal init of a given std."""

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float) -> None:
        super().__init__()
        self.init_std = init_std
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        trunc_normal_(self.weight, std=self.init_std, generator=generator)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


class RotaryEmbedding(nn.Module):
    """Precomputed RoPE cos/sin tables for `max_positions` positions (non-persistent buffers)."""

    def __init__(self, head_dim: int, max_positions: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)  # (S, D/2)
        angles = torch.cat((angles, angles), dim=-1)  # (S, D): rotate-half layout
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos, self.sin


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (B, S, H, D) by position; cos/sin (S, D). Computed in float32, returned in x's dtype."""
    cos = cos[:, None, :]  # (S, 1, D) broadcasts over heads
    sin = sin[:, None, :]
    xf = x.float()
    return (xf * cos + _rotate_half(xf) * sin).to(x.dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with a fused qkv projection and optional RoPE."""

    def __init__(self, hidden_size: int, num_heads: int, backend: str) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.backend = backend
        self.qkv_proj = CastedLinear(hidden_size, 3 * hidden_size)
        self.o_proj = CastedLinear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        batch, seq, _ = x.shape
        qkv = self.qkv_proj(x).view(batch, seq, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.unbind(dim=2)  # each (B, S, H, Dh)
        if rope is not None:
            cos, sin = rope
            q = apply_rotary(q, cos[:seq], sin[:seq])
            k = apply_rotary(k, cos[:seq], sin[:seq])
        out = attention(q, k, v, backend=self.backend)  # (B, S, H, Dh)
        return self.o_proj(out.reshape(batch, seq, -1))


class SwiGLU(nn.Module):
    """Gated MLP: down(silu(gate) * up) with a fused gate+up projection."""

    def __init__(self, hidden_size: int, expansion: float) -> None:
        super().__init__()
        width = swiglu_width(hidden_size, expansion)
        self.gate_up_proj = CastedLinear(hidden_size, 2 * width)
        self.down_proj = CastedLinear(width, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class SequenceMLP(nn.Module):
    """Token mixing without attention: a SwiGLU across the positions of each channel (TRM-MLP).

    Only for a fixed sequence length (small fixed grids such as sudoku): the weights are sized by it.
    """

    def __init__(self, seq_len: int, expansion: float) -> None:
        super().__init__()
        self.mlp = SwiGLU(seq_len, expansion)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)  # (B, D, S) mixed over S, back to (B, S, D)


TOKEN_MIXERS = ("attention", "mlp")


class Block(nn.Module):
    """Post-norm transformer block: x = norm(x + mix(x)); x = norm(x + mlp(x)).

    The token mixer is self-attention, or (``mixer="mlp"``) a SwiGLU over the ``seq_len`` positions.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        expansion: float,
        eps: float,
        backend: str,
        mixer: str = "attention",
        seq_len: int = 0,
    ) -> None:
        super().__init__()
        self.eps = eps
        # Distinct attribute names: a state dict says which mixer it holds, and old checkpoints still load.
        self.self_attn: Attention | None = None
        self.seq_mlp: SequenceMLP | None = None
        if mixer == "attention":
            self.self_attn = Attention(hidden_size, num_heads, backend)
        elif mixer == "mlp":
            if seq_len < 1:
                raise ValueError("an MLP token mixer needs the fixed sequence length (seq_len >= 1)")
            self.seq_mlp = SequenceMLP(seq_len, expansion)
        else:
            raise ValueError(f"mixer must be one of {TOKEN_MIXERS}, got {mixer!r}")
        self.mlp = SwiGLU(hidden_size, expansion)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        mixer = self.self_attn if self.self_attn is not None else self.seq_mlp
        x = rms_norm(x + mixer(x, rope), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)
