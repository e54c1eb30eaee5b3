"""Losses and metrics on cases small enough to compute by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hrm_pipeline.model import compute_loss, softmax_cross_entropy, stablemax_cross_entropy
from hrm_pipeline.model.hrm import Carry


def test_stablemax_cross_entropy_matches_hand_computation() -> None:
    # s([-1, 0, 1]) = [1/2, 1, 2], sum 3.5.
    logits = torch.tensor([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])
    labels = torch.tensor([2, 0, -100])
    loss = stablemax_cross_entropy(logits, labels)
    assert loss.dtype == torch.float64
    assert loss.tolist() == pytest.approx([math.log(3.5 / 2), math.log(3.5 / 0.5), 0.0])


def test_stablemax_gradient_stays_finite_where_the_unused_branch_would_blow_up() -> None:
    logits = torch.tensor([[1.0, 1e6, -1e6, 0.0]], requires_grad=True)  # 1/(1-x) is infinite at x = 1
    stablemax_cross_entropy(logits, torch.tensor([0])).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_softmax_cross_entropy_ignores_minus_100() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    loss = softmax_cross_entropy(logits, torch.tensor([1, -100]))
    assert loss.tolist() == pytest.approx([-F.log_softmax(logits[0], -1)[1].item(), 0.0])


def _hand_case() -> tuple[Carry, dict[str, torch.Tensor]]:
    row = [-1.0, 0.0, 1.0]  # predicts class 2
    labels = torch.tensor([[2, -100], [0, 2]])  # row 0 exactly right, row 1 half right
    carry = Carry(
        z_H=torch.zeros(2, 2, 4),
        z_L=torch.zeros(2, 2, 4),
        steps=torch.tensor([3, 5], dtype=torch.int32),
        halted=torch.tensor([True, False]),
        current_data={
            "inputs": torch.zeros(2, 2, dtype=torch.long),
            "labels": labels,
            "puzzle_identifiers": torch.zeros(2, dtype=torch.long),
        },
    )
    outputs = {
        "logits": torch.tensor([[row, [5.0, 0.0, 0.0]], [row, row]]),
        "q_halt_logits": torch.tensor([0.0, 2.0]),
        "q_continue_logits": torch.tensor([1.0, -1.0]),
        "target_q_continue": torch.tensor([0.25, 1.0]),
    }
    return carry, outputs


def test_compute_loss_matches_hand_computation() -> None:
    carry, outputs = _hand_case()
    loss, metrics = compute_loss(carry, outputs, loss_type="stablemax")
    lm = math.log(1.75) / 1 + (math.log(7.0) + math.log(1.75)) / 2  # per-row means, summed
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    q_halt = -math.log(sig(0.0)) - math.log(1 - sig(2.0))  # targets: row 0 correct, row 1 not
    q_cont = -(0.25 * math.log(sig(1.0)) + 0.75 * math.log(1 - sig(1.0))) - math.log(sig(-1.0))
    assert loss.item() == pytest.approx(lm + 0.5 * (q_halt + q_cont), rel=1e-5)
    assert metrics["lm_loss"].item() == pytest.approx(lm, rel=1e-5)
    assert metrics["q_halt_loss"].item() == pytest.approx(q_halt, rel=1e-5)
    assert metrics["q_continue_loss"].item() == pytest.approx(q_cont, rel=1e-5)
    # Only row 0 halted: it is exactly right, q_halt 0 >= 0 agrees, and it took 3 steps.
    assert {
        k: metrics[k].item() for k in ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps")
    } == {"count": 1, "accuracy": 1.0, "exact_accuracy": 1, "q_halt_accuracy": 1, "steps": 3}
    assert all(isinstance(v, torch.Tensor) for v in metrics.values())


def test_metrics_count_every_halted_row_and_softmax_loss_is_finite() -> None:
    carry, outputs = _hand_case()
    carry.halted = torch.tensor([True, True])
    del outputs["target_q_continue"]  # evaluation outputs: no continue target, no continue loss
    loss, metrics = compute_loss(carry, outputs, loss_type="softmax")
    assert metrics["count"].item() == 2 and metrics["accuracy"].item() == pytest.approx(1.5)
    assert metrics["exact_accuracy"].item() == 1 and metrics["steps"].item() == 8
    assert metrics["q_continue_loss"].item() == 0.0 and torch.isfinite(loss)


def test_unknown_loss_type_is_rejected() -> None:
    carry, outputs = _hand_case()
    with pytest.raises(ValueError, match="loss_type"):
        compute_loss(carry, outputs, loss_type="focal")
