"""ACT semantics: which rows take new data, when rows halt, exploration, and the Q-continue target."""

from __future__ import annotations

import dataclasses

import torch
from helpers.model import make_batch, make_model, tiny_config

from hrm_pipeline.model import HRM, HRMConfig
from hrm_pipeline.model.hrm import Carry


def _force_q(model: HRM, halt: float, cont: float) -> None:
    with torch.no_grad():
        model.q_head.bias.copy_(torch.tensor([halt, cont]))


def _rows_equal(data: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], rows: torch.Tensor) -> bool:
    return all(torch.equal(data[k][rows], batch[k][rows]) for k in batch)


def test_first_call_takes_every_row_of_the_batch(cfg: HRMConfig) -> None:
    model = make_model(cfg)
    batch = make_batch(cfg, 4, seed=0)
    carry = model.initial_carry(batch)
    assert carry.halted.all()
    carry, _ = model(carry, batch)
    assert _rows_equal(carry.current_data, batch, torch.arange(4))
    assert carry.steps.tolist() == [1, 1, 1, 1]


def test_evaluation_runs_exactly_halt_max_steps_even_if_q_says_halt() -> None:
    cfg = tiny_config(halt_max_steps=3, halt_exploration_prob=1.0)
    model = make_model(cfg).eval()
    _force_q(model, halt=5.0, cont=-5.0)  # Q strongly says "halt"; evaluation must ignore it
    first, second = make_batch(cfg, 4, seed=0), make_batch(cfg, 4, seed=1)
    carry = model.initial_carry(first)
    for step in (1, 2, 3):
        carry, out = model(carry, first if step == 1 else second)
        assert carry.halted.tolist() == [step == 3] * 4
        assert _rows_equal(carry.current_data, first, torch.arange(4))  # running rows keep their puzzle
        assert "target_q_continue" not in out
    carry, _ = model(carry, second)  # everyone halted: the next call takes the new batch, steps restart
    assert _rows_equal(carry.current_data, second, torch.arange(4))
    assert carry.steps.tolist() == [1] * 4


def test_halted_rows_restart_from_the_initial_state_and_others_continue(cfg: HRMConfig) -> None:
    model = make_model(cfg).eval()
    first, second = make_batch(cfg, 4, seed=0), make_batch(cfg, 4, seed=1)
    carry, _ = model(model.initial_carry(first), first)
    halted = torch.tensor([True, False, True, False])
    mixed = Carry(carry.z_H, carry.z_L, carry.steps, halted, carry.current_data)
    after, out = model(mixed, second)

    _, fresh = model(model.initial_carry(second), second)  # what a brand-new row computes on `second`
    _, continued = model(carry, first)  # what a continuing row computes on `first`
    assert torch.allclose(out["logits"][halted], fresh["logits"][halted], atol=1e-5)
    assert torch.allclose(out["logits"][~halted], continued["logits"][~halted], atol=1e-5)
    assert _rows_equal(after.current_data, second, halted.nonzero().squeeze(1))
    assert _rows_equal(after.current_data, first, (~halted).nonzero().squeeze(1))
    assert after.steps.tolist() == [1, 2, 1, 2]


def test_training_halts_where_q_halt_beats_q_continue() -> None:
    cfg = tiny_config(halt_max_steps=8, halt_exploration_prob=0.0)
    model = make_model(cfg).train()
    batch = make_batch(cfg, 4, seed=0)
    _force_q(model, halt=5.0, cont=-5.0)
    carry, _ = model(model.initial_carry(batch), batch)
    assert carry.halted.all() and carry.steps.tolist() == [1] * 4
    _force_q(model, halt=-5.0, cont=5.0)
    carry, _ = model(model.initial_carry(batch), batch)
    assert not carry.halted.any()


def _halting_steps(model: HRM, cfg: HRMConfig, size: int, seed: int) -> torch.Tensor:
    batch = make_batch(cfg, size, seed=0)
    g = torch.Generator().manual_seed(seed)
    carry, _ = model(model.initial_carry(batch), batch, generator=g)
    halted_at = torch.where(carry.halted, carry.steps, 0)
    while not (halted_at > 0).all():
        carry = Carry(carry.z_H, carry.z_L, carry.steps, carry.halted & False, carry.current_data)
        carry, _ = model(carry, batch, generator=g)
        halted_at = torch.where((halted_at == 0) & carry.halted, carry.steps, halted_at)
    return halted_at


def test_exploration_redraws_a_minimum_in_two_to_max_every_segment() -> None:
    cfg = tiny_config(halt_max_steps=5, halt_exploration_prob=1.0, seq_len=4, hidden_size=16)
    model = make_model(cfg).train()
    _force_q(model, halt=5.0, cont=-5.0)  # Q alone would halt every row after one segment
    halted_at = _halting_steps(model, cfg, size=400, seed=0)
    assert halted_at.min().item() >= 2 and halted_at.max().item() <= 5
    # A fresh minimum ~ U{2..5} each segment: P(halt at step s | running) = (s - 1) / 4, so of 400 rows
    # 100 halt at 2, 150 at 3, 112.5 at 4 and 37.5 at 5.
    counts = torch.bincount(halted_at, minlength=6)[2:].float()
    expected = torch.tensor([100.0, 150.0, 112.5, 37.5])
    assert ((counts - expected).abs() < 30).all(), counts


def test_exploration_is_seeded_by_the_generator_and_only_hits_some_rows() -> None:
    cfg = tiny_config(halt_max_steps=6, halt_exploration_prob=0.3, seq_len=4, hidden_size=16)
    model = make_model(cfg).train()
    _force_q(model, halt=5.0, cont=-5.0)
    a = _halting_steps(model, cfg, size=300, seed=7)
    b = _halting_steps(model, cfg, size=300, seed=7)
    c = _halting_steps(model, cfg, size=300, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0.2 < (a > 1).float().mean().item() < 0.4  # about 30% explored


def test_q_continue_target_bootstraps_from_the_next_segment() -> None:
    cfg = tiny_config(halt_max_steps=2, halt_exploration_prob=0.0)
    model = make_model(cfg).train()
    with torch.no_grad():  # a Q-head that actually varies between rows and segments
        model.q_head.weight.normal_(generator=torch.Generator().manual_seed(0))
    batch = make_batch(cfg, 6, seed=0)
    carry = model.initial_carry(batch)
    for step in (1, 2):
        carry, out = model(carry, batch)
        assert (carry.steps == step).all()
        with torch.no_grad():
            _, _, _, next_halt, next_continue = model.segment(carry.z_H, carry.z_L, carry.current_data)
        # At the last step the episode ends: the value of continuing is the value of halting next time.
        expected = torch.sigmoid(next_halt if step == 2 else torch.maximum(next_halt, next_continue))
        assert torch.allclose(out["target_q_continue"], expected, atol=1e-5)
        carry = dataclasses.replace(carry, halted=torch.zeros_like(carry.halted))  # keep every row running
