"""HRM structure: parameter count, init, config, shapes, state dict, 1-step gradient, autocast, compile."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers.model import deep_supervision_losses, make_batch, make_model, tiny_config, with_cycles

from hrm_pipeline.model import HRM, HRMConfig, compute_loss
from hrm_pipeline.model.hrm import Carry

PAPER_SUDOKU_PARAMS = 27_275_266


def test_paper_config_has_exactly_the_published_trainable_parameter_count() -> None:
    with torch.device("meta"):  # shapes only: no 100 MB of weights to draw
        model = HRM(HRMConfig(vocab_size=11, seq_len=81, num_puzzle_identifiers=1))
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == PAPER_SUDOKU_PARAMS
    names = dict(model.named_parameters())
    assert "puzzle_emb.weight" not in names  # the table is a buffer trained by its own optimiser
    assert {"puzzle_emb.weight", "H_init", "L_init"} <= set(model.state_dict())
    assert model.puzzle_emb.weight.shape == (1, 512)
    assert model.config.puzzle_emb_len == 1


def test_learned_positions_add_one_table_of_positions() -> None:
    rope = tiny_config()
    learned = tiny_config(pos_encodings="learned")
    count = lambda cfg: sum(p.numel() for p in make_model(cfg).parameters())  # noqa: E731
    assert count(learned) - count(rope) == rope.total_len * rope.hidden_size


def test_q_head_starts_at_minus_five_for_halt_and_continue(cfg: HRMConfig) -> None:
    model = make_model(cfg)
    batch = make_batch(cfg, 3, seed=0)
    _, out = model(model.initial_carry(batch), batch)
    assert torch.allclose(out["q_halt_logits"], torch.full((3,), -5.0))
    assert torch.allclose(out["q_continue_logits"], torch.full((3,), -5.0))


def test_init_states_are_fixed_unit_std_buffers() -> None:
    model = make_model(tiny_config(hidden_size=256, num_heads=4))
    assert not model.H_init.requires_grad and not model.L_init.requires_grad
    assert 0.8 < model.H_init.std().item() < 1.2 and not torch.equal(model.H_init, model.L_init)


def test_same_generator_seed_gives_identical_weights(cfg: HRMConfig) -> None:
    a, b, c = make_model(cfg, seed=1), make_model(cfg, seed=1), make_model(cfg, seed=2)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert not torch.equal(a.L_level.layers[0].mlp.down_proj.weight, c.L_level.layers[0].mlp.down_proj.weight)


def test_outputs_have_expected_shapes_and_dtypes(cfg: HRMConfig) -> None:
    model = make_model(cfg).train()
    batch = make_batch(cfg, 5, seed=0)
    carry, out = model(model.initial_carry(batch), batch)
    assert out["logits"].shape == (5, cfg.seq_len, cfg.vocab_size) and out["logits"].dtype == torch.float32
    for key in ("q_halt_logits", "q_continue_logits", "target_q_continue"):
        assert out[key].shape == (5,) and out[key].dtype == torch.float32
    assert carry.z_H.shape == carry.z_L.shape == (5, cfg.total_len, cfg.hidden_size)
    assert carry.halted.dtype == torch.bool and carry.steps.dtype == torch.int32
    assert not carry.z_H.requires_grad and not carry.z_L.requires_grad  # returned carry is detached
    _, out = model.eval()(model.initial_carry(batch), batch)
    assert "target_q_continue" not in out


def test_config_rejects_bad_values_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="recurrence must be one of"):
        tiny_config(recurrence="deq")
    with pytest.raises(ValueError, match="gradient must be one of"):
        tiny_config(gradient="full")
    with pytest.raises(ValueError, match="token_mixer must be one of"):
        tiny_config(token_mixer="conv")
    with pytest.raises(ValueError, match="q_continue must be true or false"):
        tiny_config(q_continue="no")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        tiny_config(hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="pos_encodings"):
        tiny_config(pos_encodings="alibi")
    with pytest.raises(ValueError, match="halt_exploration_prob"):
        tiny_config(halt_exploration_prob=1.5)
    with pytest.raises(ValueError, match="H_cycles must be >= 1"):
        tiny_config(H_cycles=0)
    with pytest.raises(ValueError, match="attention_backend"):
        tiny_config(attention_backend="triton")


def test_puzzle_embedding_width_sets_prefix_positions() -> None:
    assert tiny_config().puzzle_emb_ndim == 32 and tiny_config().puzzle_emb_len == 1  # default = hidden
    assert tiny_config(puzzle_emb_ndim=48).puzzle_emb_len == 2  # ceil(48 / 32)
    cfg = tiny_config(puzzle_emb_ndim=0)
    model = make_model(cfg)
    assert model.puzzle_emb is None and cfg.total_len == cfg.seq_len
    batch = make_batch(cfg, 2, seed=0)
    _, out = model(model.initial_carry(batch), batch)
    assert out["logits"].shape == (2, cfg.seq_len, cfg.vocab_size)


def test_state_dict_round_trip_reproduces_outputs(cfg: HRMConfig) -> None:
    source = make_model(cfg, seed=1).eval()
    with torch.no_grad():
        source.puzzle_emb.weight.normal_(
            generator=torch.Generator().manual_seed(0)
        )  # a trained-looking table
    target = make_model(cfg, seed=2).eval()
    target.load_state_dict(source.state_dict())
    batch = make_batch(cfg, 4, seed=0)
    _, a = source(source.initial_carry(batch), batch)
    _, b = target(target.initial_carry(batch), batch)
    assert torch.equal(a["logits"], b["logits"])


def _carry_from(z_H: torch.Tensor, z_L: torch.Tensor, batch: dict[str, torch.Tensor]) -> Carry:
    size = z_H.shape[0]
    halted = torch.zeros(size, dtype=torch.bool)
    return Carry(z_H, z_L, torch.zeros(size, dtype=torch.int32), halted, dict(batch))


def _saved_tensor_count(model: HRM, batch: dict[str, torch.Tensor]) -> int:
    count = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        carry, out = model(model.initial_carry(batch), batch)
        compute_loss(carry, out)
    return count


def test_autograd_graph_does_not_grow_with_cycles(cfg: HRMConfig) -> None:
    batch = make_batch(cfg, 2, seed=0)
    counts = {
        (h, l_cycles): _saved_tensor_count(make_model(with_cycles(cfg, h, l_cycles)).train(), batch)
        for h, l_cycles in ((1, 1), (2, 2), (3, 4))
    }
    assert len(set(counts.values())) == 1, counts


def test_gradient_flows_only_through_the_last_l_and_h_update(cfg: HRMConfig) -> None:
    """A 3x2-cycle segment equals (value and gradient) a 1x1 segment started from its no-grad prefix state."""
    deep_cfg = with_cycles(cfg, 3, 2)
    deep = make_model(deep_cfg).eval()
    shallow = HRM(with_cycles(cfg, 1, 1)).eval()
    shallow.load_state_dict(deep.state_dict())
    batch = make_batch(cfg, 3, seed=0)
    g = torch.Generator().manual_seed(5)
    z_H = torch.randn(3, cfg.total_len, cfg.hidden_size, generator=g, requires_grad=True)
    z_L = torch.randn(3, cfg.total_len, cfg.hidden_size, generator=g, requires_grad=True)

    def objective(out: dict[str, torch.Tensor]) -> torch.Tensor:
        return out["logits"].square().sum() + out["q_halt_logits"].sum() + out["q_continue_logits"].sum()

    _, out = deep(_carry_from(z_H, z_L, batch), batch)
    objective(out).backward()
    deep_grads = {n: p.grad.clone() for n, p in deep.named_parameters()}
    assert z_H.grad is None and z_L.grad is None  # nothing reaches the states before the no-grad cycles

    # Run the no-grad prefix by hand: L, L, H, L, L, H, L (the final L and H come from the 1x1 model).
    with torch.no_grad():
        x = deep.embed_input(batch["inputs"], batch["puzzle_identifiers"])
        rope = deep.rotary()
        h, lo = z_H.detach(), z_L.detach()
        for step in range(deep_cfg.H_cycles * deep_cfg.L_cycles - 1):
            lo = deep.L_level(lo, h + x, rope)
            if step % deep_cfg.L_cycles == deep_cfg.L_cycles - 1:
                h = deep.H_level(h, lo, rope)
    _, ref = shallow(_carry_from(h, lo, batch), batch)
    objective(ref).backward()
    assert torch.allclose(out["logits"], ref["logits"], atol=1e-5)
    for name, p in shallow.named_parameters():
        assert torch.allclose(deep_grads[name], p.grad, atol=1e-5, rtol=1e-4), name


def test_bf16_autocast_on_cpu_gives_finite_outputs_and_gradients(cfg: HRMConfig) -> None:
    model = make_model(cfg).train()
    batch = make_batch(cfg, 4, seed=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        carry, out = model(model.initial_carry(batch), batch)
        loss, metrics = compute_loss(carry, out)
    assert out["logits"].dtype == torch.bfloat16
    assert torch.isfinite(out["logits"].float()).all() and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_a_tiny_model_learns_a_fixed_batch() -> None:
    """Deep supervision end to end: the answer loss on one repeated batch must fall clearly."""
    from hrm_pipeline.model import build_optimizers

    cfg = tiny_config(halt_max_steps=2, seq_len=8, vocab_size=5)
    model = make_model(cfg).train()
    batch = make_batch(cfg, 16, seed=0)
    batch["labels"] = batch["inputs"].flip(-1)  # a position-dependent mapping: needs attention
    optimizers = build_optimizers(
        model, lr=3e-3, weight_decay=0.0, puzzle_emb_lr=1e-3, puzzle_emb_weight_decay=0
    )
    losses = deep_supervision_losses(model, batch, optimizers, steps=60)
    assert sum(losses[-10:]) / 10 < 0.4 * sum(losses[:10]) / 10, (losses[:10], losses[-10:])


def test_compiled_model_matches_eager_on_cpu(cfg: HRMConfig) -> None:
    model = make_model(cfg).eval()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=False)
    batch = make_batch(cfg, 2, seed=0)
    carry_e, carry_c = model.initial_carry(batch), model.initial_carry(batch)
    for _ in range(2):
        carry_e, eager = model(carry_e, batch)
        carry_c, comp = compiled(carry_c, batch)
        assert torch.allclose(eager["logits"], comp["logits"], atol=1e-5)
        assert torch.equal(carry_e.steps, carry_c.steps)


@pytest.mark.slow
def test_inductor_compiled_training_step_matches_eager(cfg: HRMConfig) -> None:
    model = make_model(cfg).train()
    compiled = torch.compile(model)
    batch = make_batch(cfg, 2, seed=0)
    results = []
    for m in (model, compiled):
        carry, out = m(m.initial_carry(batch), batch, generator=torch.Generator().manual_seed(0))
        loss, _ = compute_loss(carry, out)
        loss.backward()
        results.append((out["logits"].detach(), [p.grad.clone() for p in model.parameters()]))
        model.zero_grad()
    assert torch.allclose(results[0][0], results[1][0], atol=1e-4)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


def test_dataclass_replace_keeps_validation() -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(tiny_config(), num_heads=3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_segment_and_loss_never_sync_with_the_host(cfg: HRMConfig) -> None:
    model = make_model(cfg).cuda().train()
    batch = {k: v.cuda() for k, v in make_batch(cfg, 4, seed=0).items()}
    g = torch.Generator(device="cuda").manual_seed(0)
    carry = model.initial_carry(batch)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            carry, out = model(carry, batch, generator=g)
            loss, metrics = compute_loss(carry, out)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    loss.backward()
    assert torch.isfinite(loss).item() and metrics["count"].item() == 0
