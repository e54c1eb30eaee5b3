"""Leaf layers: init statistics, RMSNorm, SwiGLU width, RoPE, attention backends."""

from __future__ import annotations

import math

import pytest
import torch

from hrm_pipeline.model.attention import attention, flash_available, sdpa_attention
from hrm_pipeline.model.layers import RotaryEmbedding, apply_rotary, rms_norm, swiglu_width, trunc_normal_


def test_trunc_normal_has_requested_std_and_is_truncated_at_two_sigma() -> None:
    t = trunc_normal_(torch.empty(200_000), std=0.5, generator=torch.Generator().manual_seed(0))
    assert t.std().item() == pytest.approx(0.5, rel=0.01)
    # Bound is 2 sigma of the underlying (wider) normal: 2 * 0.5 / 0.8796 ~ 1.137.
    assert t.abs().max().item() <= 2 * 0.5 / 0.8796 + 1e-4
    assert t.abs().max().item() > 1.0  # and the tails are actually used


def test_trunc_normal_is_reproducible_from_a_generator() -> None:
    a = trunc_normal_(torch.empty(100), std=1.0, generator=torch.Generator().manual_seed(3))
    b = trunc_normal_(torch.empty(100), std=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_rms_norm_gives_unit_root_mean_square_without_scale() -> None:
    x = torch.randn(4, 7, 64, generator=torch.Generator().manual_seed(0)) * 13.0
    y = rms_norm(x, eps=1e-5)
    assert torch.allclose(y.square().mean(-1), torch.ones(4, 7), atol=1e-4)
    assert torch.allclose(y / y.norm(dim=-1, keepdim=True), x / x.norm(dim=-1, keepdim=True), atol=1e-5)


def test_swiglu_width_follows_the_rounding_rule() -> None:
    assert swiglu_width(512, 4.0) == 1536  # round(1365.33) = 1365 -> 1536
    assert swiglu_width(32, 4.0) == 256  # round(85.3) -> up to one tile
    assert swiglu_width(384, 4.0) == 1024  # exactly a multiple stays put


def test_rope_scores_depend_only_on_relative_position() -> None:
    head_dim, seq = 16, 12
    cos, sin = RotaryEmbedding(head_dim, seq, theta=10000.0)()
    g = torch.Generator().manual_seed(0)
    q_vec, k_vec = torch.randn(head_dim, generator=g), torch.randn(head_dim, generator=g)
    q = apply_rotary(q_vec.expand(1, seq, 1, head_dim), cos, sin)[0, :, 0]  # (S, Dh)
    k = apply_rotary(k_vec.expand(1, seq, 1, head_dim), cos, sin)[0, :, 0]
    scores = q @ k.T  # (S, S)
    for offset in (0, 1, 5):
        diag = torch.diagonal(scores, offset=offset)
        assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-4)
    assert torch.allclose(q.norm(dim=-1), q_vec.norm().expand(seq), atol=1e-5)  # a rotation keeps norms


def test_sdpa_backend_matches_naive_non_causal_attention() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 5, 3, 8, generator=g) for _ in range(3))  # (B, S, H, Dh)
    weights = torch.softmax(torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(8), dim=-1)
    expected = torch.einsum("bhqk,bkhd->bqhd", weights, v)
    assert torch.allclose(sdpa_attention(q, k, v), expected, atol=1e-5)
    assert torch.allclose(attention(q, k, v, backend="auto"), expected, atol=1e-5)  # CPU: auto = sdpa


def test_flash_backend_refuses_clearly_where_it_cannot_run() -> None:
    q = torch.randn(1, 4, 2, 8)
    with pytest.raises(RuntimeError, match="attention_backend='flash'"):
        attention(q, q, q, backend="flash")
    with pytest.raises(ValueError, match="unknown attention backend"):
        attention(q, q, q, backend="xformers")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.skipif(not flash_available(), reason="needs flash_attn or flash_attn_interface")
def test_flash_and_sdpa_agree_in_bf16_on_cuda() -> None:
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(4, 82, 8, 64, generator=g, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    flash = attention(q, k, v, backend="flash")
    sdpa = attention(q, k, v, backend="sdpa")
    assert torch.allclose(flash.float(), sdpa.float(), atol=2e-2, rtol=2e-2)
