"""Recursion variants: TRM's recurrence, the gradient option, TRM halting (no Q-continue), the MLP mixer."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from helpers.model import deep_supervision_losses, make_batch, make_model, tiny_config

from hrm_pipeline.model import HRM, HRMConfig, build_optimizers, compute_loss

TRM = dict(recurrence="trm", H_layers=1, L_layers=2, H_cycles=3, L_cycles=2)


def _paper_trm(**overrides) -> HRM:
    """TRM at the paper's Sudoku config: hidden 512, one 2-layer network, 9x9 tokens + 1 puzzle position."""
    cfg = HRMConfig(vocab_size=11, seq_len=81, num_puzzle_identifiers=1, L_layers=2, **overrides)
    with torch.device("meta"):  # shapes only
        return HRM(dataclasses.replace(cfg, recurrence="trm", L_cycles=6, H_cycles=3))


def _trainable(model: HRM) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Counted: every trainable weight (the 2 blocks, token embedding, lm head, Q-head); not counted: the
# puzzle-embedding table (a buffer with its own optimiser, as for HRM's 27,275,266) and the initial states.
# Per attention block at hidden 512: qkv 3*512^2 + o 512^2 + SwiGLU (width 1536) 512*3072 + 1536*512
# = 3,407,872. Heads: embedding 11*512 + lm head 512*11 + Q-head 512*2 + 2 = 12,290.
TRM_ATTENTION_PARAMS = 2 * 3_407_872 + 12_290  # 6,828,034: the paper's "7M"
# MLP mixer over the 82 positions: SwiGLU 82 -> width round(4*82*2/3)=219 -> 256: 82*512 + 256*82 = 62,976,
# replacing the 1,048,576 attention weights of each block.
TRM_MLP_PARAMS = 2 * (3_407_872 - 1_048_576 + 62_976) + 12_290  # 4,856,834: the paper's "5M"


def test_trm_has_one_two_layer_network_of_about_7m_parameters() -> None:
    model = _paper_trm()
    assert _trainable(model) == TRM_ATTENTION_PARAMS
    assert model.H_level is None and len(model.L_level.layers) == 2
    assert not any(k.startswith("H_level") for k in model.state_dict())


def test_trm_mlp_has_about_5m_parameters_and_no_attention() -> None:
    model = _paper_trm(token_mixer="mlp")
    assert _trainable(model) == TRM_MLP_PARAMS
    assert not any("self_attn" in name for name, _ in model.named_parameters())


def test_gradient_auto_resolves_per_recurrence() -> None:
    assert tiny_config().gradient == "one_step"
    assert tiny_config(**TRM).gradient == "last_recursion"
    assert tiny_config(**TRM, gradient="one_step").gradient == "one_step"


def test_trm_segment_is_n_latent_updates_then_one_answer_update_per_recursion() -> None:
    cfg = tiny_config(**TRM)
    model = make_model(cfg).eval()
    batch = make_batch(cfg, 3, seed=0)
    g = torch.Generator().manual_seed(1)
    y = torch.randn(3, cfg.total_len, cfg.hidden_size, generator=g)
    z = torch.randn(3, cfg.total_len, cfg.hidden_size, generator=g)
    with torch.no_grad():
        got_y, got_z, logits, q_halt, _ = model.segment(y, z, batch)
        x = model.embed_input(batch["inputs"], batch["puzzle_identifiers"])
        net, rope = model.L_level, model.rotary()
        for _ in range(cfg.H_cycles):  # T recursions
            for _ in range(cfg.L_cycles):  # n latent updates: z <- net(x + y + z)
                z = net(z, y + x, rope)
            y = net(y, z, rope)  # one answer update: y <- net(y + z)
    assert torch.allclose(got_y, y, atol=1e-5) and torch.allclose(got_z, z, atol=1e-5)
    assert torch.allclose(logits, model.lm_head(y[:, cfg.puzzle_emb_len :]), atol=1e-5)  # head on y
    assert torch.allclose(q_halt, model.q_head(y[:, 0])[:, 0], atol=1e-5)


def _record_calls(model: HRM, batch: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """Every module call of one segment, in order, with its output; backward through the logits."""
    calls: list[tuple[str, torch.Tensor]] = []

    def hook(name):
        def record(_module, _args, output):
            if output.requires_grad:
                output.retain_grad()
            calls.append((name, output))

        return record

    model.L_level.register_forward_hook(hook("L"))
    if model.H_level is not None:
        model.H_level.register_forward_hook(hook("H"))
    shape = (batch["inputs"].shape[0], model.config.total_len, model.config.hidden_size)
    z_H, z_L = model.H_init.expand(shape).clone(), model.L_init.expand(shape).clone()
    _, _, logits, _, _ = model.segment(z_H, z_L, batch)
    logits.square().sum().backward()
    return calls


def _has_grad(output: torch.Tensor) -> bool:
    return output.requires_grad and output.grad is not None and bool(output.grad.abs().sum() > 0)


@pytest.mark.parametrize(
    ("overrides", "calls_per_cycle"),
    [(TRM, TRM["L_cycles"] + 1), (dict(H_cycles=3, L_cycles=2, gradient="last_recursion"), 3)],
    ids=["trm", "hrm"],
)
def test_last_recursion_puts_every_call_of_the_last_cycle_and_none_before_under_gradient(
    overrides, calls_per_cycle
) -> None:
    cfg = tiny_config(**overrides)
    batch = make_batch(cfg, 2, seed=0)
    calls = _record_calls(make_model(cfg).train(), batch)
    assert len(calls) == cfg.H_cycles * calls_per_cycle
    grads = [_has_grad(out) for _, out in calls]
    assert grads == [False] * (len(calls) - calls_per_cycle) + [True] * calls_per_cycle
    assert [name for name, _ in calls[-calls_per_cycle:]][-1] == ("L" if cfg.recurrence == "trm" else "H")


@pytest.mark.parametrize("recurrence", ["hrm", "trm"])
def test_one_step_puts_only_the_final_latent_and_answer_update_under_gradient(recurrence) -> None:
    overrides = TRM if recurrence == "trm" else dict(H_cycles=3, L_cycles=2)
    cfg = tiny_config(**{**overrides, "gradient": "one_step"})
    calls = _record_calls(make_model(cfg).train(), make_batch(cfg, 2, seed=0))
    assert [_has_grad(out) for _, out in calls] == [False] * (len(calls) - 2) + [True] * 2


def _saved_bytes(cfg: HRMConfig) -> int:
    """Bytes autograd saves for backward in one training forward + loss."""
    model = make_model(cfg).train()
    batch = make_batch(cfg, 2, seed=0)
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        carry, out = model(model.initial_carry(batch), batch)
        compute_loss(carry, out)
    return total


def test_last_recursion_memory_grows_with_n_but_not_with_t() -> None:
    at = {
        (t, n): _saved_bytes(tiny_config(**{**TRM, "H_cycles": t, "L_cycles": n}))
        for t in (1, 3)
        for n in (1, 2, 3)
    }
    for n in (1, 2, 3):
        assert at[(1, n)] == at[(3, n)], at  # T recursions: only the last one is recorded
    assert at[(1, 1)] < at[(1, 2)] < at[(1, 3)]
    assert at[(1, 3)] - at[(1, 2)] == at[(1, 2)] - at[(1, 1)]  # each latent update saves the same


def test_one_step_memory_grows_with_neither() -> None:
    sizes = {
        _saved_bytes(tiny_config(**{**TRM, "gradient": "one_step", "H_cycles": t, "L_cycles": n}))
        for t, n in ((1, 1), (3, 2), (2, 5))
    }
    assert len(sizes) == 1, sizes


def _force_q(model: HRM, halt: float, cont: float) -> None:
    with torch.no_grad():
        model.q_head.bias.copy_(torch.tensor([halt, cont]))


def test_without_q_continue_training_halts_where_q_halt_is_positive_and_runs_one_segment() -> None:
    cfg = tiny_config(**TRM, q_continue=False, halt_max_steps=8, halt_exploration_prob=0.0)
    model = make_model(cfg).train()
    batch = make_batch(cfg, 4, seed=0)
    calls = []
    model.L_level.register_forward_hook(lambda *_: calls.append(1))
    _force_q(model, halt=0.5, cont=5.0)  # sigmoid(0.5) > 0.5: halt, whatever the continue logit says
    carry, out = model(model.initial_carry(batch), batch)
    assert carry.halted.all()
    assert "target_q_continue" not in out
    assert len(calls) == cfg.H_cycles * (cfg.L_cycles + 1)  # no extra segment for a bootstrap target
    _force_q(model, halt=-0.5, cont=-5.0)  # q_halt < 0: continue, though q_halt > q_continue
    carry, _ = model(model.initial_carry(batch), batch)
    assert not carry.halted.any()
    with_q = make_model(dataclasses.replace(cfg, q_continue=True)).train()
    _force_q(with_q, halt=-0.5, cont=-5.0)
    assert with_q(with_q.initial_carry(batch), batch)[0].halted.all()  # HRM's rule: q_halt > q_continue


def test_halts_rule_matches_each_setting() -> None:
    q_halt, q_cont = torch.tensor([0.5, -0.5, 0.5, -2.0]), torch.tensor([5.0, -5.0, 0.0, -3.0])
    assert make_model(tiny_config()).halts(q_halt, q_cont).tolist() == [False, True, True, True]
    trm = make_model(tiny_config(**TRM, q_continue=False))
    assert trm.halts(q_halt, q_cont).tolist() == [True, False, True, False]


# BCE-with-logits of logit -5 (the Q-head's initial bias, weight 0) against target 0: log(1 + e^-5).
BCE_MINUS_5_VS_0 = math.log1p(math.exp(-5.0))  # 0.0067153


@pytest.mark.parametrize(
    "overrides", [dict(halt_max_steps=1), dict(q_continue=False)], ids=["one-step-budget", "no-q-continue"]
)
def test_no_q_continue_target_means_no_q_continue_loss(overrides) -> None:
    cfg = tiny_config(**overrides)
    model = make_model(cfg).train()
    batch = make_batch(cfg, 4, seed=0)  # random labels: no row is solved, so every q_halt target is 0
    carry, out = model(model.initial_carry(batch), batch)
    assert "target_q_continue" not in out
    loss, metrics = compute_loss(carry, out)
    assert metrics["exact_accuracy"] == 0
    assert metrics["q_continue_loss"] == 0
    assert metrics["q_halt_loss"].item() == pytest.approx(4 * BCE_MINUS_5_VS_0, rel=1e-5)
    assert loss.item() == pytest.approx(metrics["lm_loss"].item() + 0.5 * 4 * BCE_MINUS_5_VS_0, rel=1e-6)


def test_q_continue_target_is_still_trained_when_budget_allows() -> None:
    cfg = tiny_config(halt_max_steps=2)
    model = make_model(cfg).train()
    batch = make_batch(cfg, 4, seed=0)
    _, out = model(model.initial_carry(batch), batch)
    assert "target_q_continue" in out


def test_mlp_mixer_carries_information_across_positions() -> None:
    cfg = tiny_config(**TRM, token_mixer="mlp", pos_encodings="learned", puzzle_emb_ndim=0)
    model = make_model(cfg).eval()
    batch = make_batch(cfg, 1, seed=0)
    changed = {k: v.clone() for k, v in batch.items()}
    changed["inputs"][0, 0] = (changed["inputs"][0, 0] + 1) % cfg.vocab_size
    shape = (1, cfg.total_len, cfg.hidden_size)
    with torch.no_grad():
        start = (model.H_init.expand(shape), model.L_init.expand(shape))
        a = model.segment(*start, batch)[2]
        b = model.segment(*start, changed)[2]
    assert not torch.allclose(a[0, 1:], b[0, 1:])  # positions 1.. see the change at position 0


@pytest.mark.parametrize("mixer", ["attention", "mlp"])
def test_a_tiny_trm_learns_a_position_dependent_mapping(mixer) -> None:
    """Deep supervision end to end with TRM's recurrence and halting: the answer loss must fall clearly."""
    # One 1-layer network, 2 x 2 cycles, learned positions: the 2-layer, 3 x 2 tiny TRM at hidden 32 learns
    # too slowly for a unit test's budget (the recursion is 18 layers deep).
    cfg = tiny_config(
        recurrence="trm",
        H_cycles=2,
        L_cycles=2,
        q_continue=False,
        halt_max_steps=2,
        seq_len=8,
        vocab_size=5,
        token_mixer=mixer,
        pos_encodings="learned",
        puzzle_emb_ndim=0,
    )
    model = make_model(cfg).train()
    batch = make_batch(cfg, 16, seed=0)
    batch["labels"] = batch["inputs"].flip(-1)  # needs information to move between positions
    optimizers = build_optimizers(model, lr=3e-3, weight_decay=0.0)
    losses = deep_supervision_losses(model, batch, optimizers, steps=80)
    assert sum(losses[-10:]) / 10 < 0.4 * sum(losses[:10]) / 10, (losses[:10], losses[-10:])
