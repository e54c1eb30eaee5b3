"""Adam-atan2 against its formula; sparse sign-SGD touches only the batch's rows; optimiser wiring."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.model import make_batch, make_model, tiny_config

from hrm_pipeline.model import AdamAtan2, SparseSignSGD, build_optimizers, compute_loss
from hrm_pipeline.model.sparse_embedding import PuzzleEmbedding


def _hand_adam_atan2(mode: str, steps: int) -> None:
    lr, wd, (b1, b2) = 0.01, 0.1, (0.9, 0.95)
    g = torch.Generator().manual_seed(0)
    param = torch.nn.Parameter(torch.randn(6, generator=g))
    expected = param.detach().clone()
    m, v = torch.zeros(6), torch.zeros(6)
    opt = AdamAtan2([param], lr=lr, betas=(b1, b2), weight_decay=wd, mode=mode)
    for t in range(1, steps + 1):
        grad = torch.randn(6, generator=g) * 10 ** (t - 3)  # scales from 1e-2 to 1e2
        param.grad = grad.clone()
        opt.step()
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        if mode == "reference":  # m's correction outside the atan2, v's inside
            update = lr / bc1 * torch.atan2(m, v.sqrt() / math.sqrt(bc2))
        else:
            update = lr * torch.atan2(m / bc1, (v / bc2).sqrt())
        expected = expected * (1 - lr * wd) - update
        assert torch.allclose(param.detach(), expected, atol=1e-6)


def test_adam_atan2_reference_mode_follows_its_formula() -> None:
    _hand_adam_atan2("reference", 5)


def test_adam_atan2_inside_mode_follows_its_formula() -> None:
    _hand_adam_atan2("inside", 5)


def test_adam_atan2_first_step_is_bounded_and_scale_free_in_both_modes() -> None:
    # Step 1, gradient +-1: m = 0.1 g, v = 0.05, bc1 = 0.1, bc2 = 0.05.
    # reference: (1 / 0.1) * atan2(0.1, sqrt(0.05) / sqrt(0.05)) = 10 * atan(0.1) = 0.99669
    # inside:    atan2(0.1 / 0.1, 1) = pi / 4 = 0.78540
    first_step = {"reference": 10 * math.atan(0.1), "inside": math.pi / 4}
    assert first_step["reference"] == pytest.approx(0.99669, abs=1e-5)
    for mode, size in first_step.items():
        for scale in (1e-8, 1.0, 1e8):
            param = torch.nn.Parameter(torch.zeros(3))
            param.grad = torch.tensor([1.0, -1.0, 0.0]) * scale
            AdamAtan2([param], lr=1.0, mode=mode).step()
            assert torch.allclose(param.detach(), torch.tensor([-size, size, 0.0]), atol=1e-6), mode


def test_adam_atan2_is_reference_by_default_and_refuses_unknown_modes() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    assert AdamAtan2([param]).param_groups[0]["mode"] == "reference"
    assert build_optimizers(torch.nn.Linear(2, 2))[-1].param_groups[0]["mode"] == "reference"
    assert (
        build_optimizers(torch.nn.Linear(2, 2), adam_atan2="inside")[-1].param_groups[0]["mode"] == "inside"
    )
    with pytest.raises(ValueError, match="mode must be one of"):
        AdamAtan2([param], mode="outside")


def _embedding_step(emb: PuzzleEmbedding, batches: list[tuple[list[int], torch.Tensor]], opt: SparseSignSGD):
    emb.train()
    for ids, coeff in batches:  # several forward/backward passes before one step = gradient accumulation
        rows = emb(torch.tensor(ids))
        (rows * coeff).sum().backward()
    opt.step()
    opt.zero_grad()


def test_sparse_sign_sgd_updates_only_touched_rows_by_the_sign_of_their_summed_gradient() -> None:
    emb = PuzzleEmbedding(5, 3)
    with torch.no_grad():
        emb.weight.copy_(torch.arange(15.0).view(5, 3))
    before = emb.weight.clone()
    lr, wd = 0.1, 0.5
    opt = SparseSignSGD(emb, lr=lr, weight_decay=wd)
    # id 3 appears twice: its gradients sum to (2 - 5) = -3 per element -> sign -1.
    coeff = torch.tensor([[1.0, -2.0, 0.0], [2.0, 2.0, 2.0], [-5.0, -5.0, -5.0]])
    _embedding_step(emb, [([1, 3, 3], coeff)], opt)
    decay = 1 - lr * wd
    assert torch.equal(emb.weight[[0, 2, 4]], before[[0, 2, 4]])  # untouched rows: not even weight decay
    assert torch.allclose(emb.weight[1], before[1] * decay - lr * torch.tensor([1.0, -1.0, 0.0]))
    assert torch.allclose(emb.weight[3], before[3] * decay + lr)


def test_sparse_sign_sgd_sums_gradients_over_accumulated_passes() -> None:
    emb = PuzzleEmbedding(3, 2)
    opt = SparseSignSGD(emb, lr=0.1, weight_decay=0.0)
    # +1 in the first pass and -3 in the second: the summed gradient is -2, so the row moves UP by lr
    # (stepping on each pass's sign separately would cancel out).
    _embedding_step(emb, [([2], torch.ones(1, 2)), ([2], -3 * torch.ones(1, 2))], opt)
    assert torch.allclose(emb.weight, torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.1, 0.1]]))


def test_no_grad_and_eval_forwards_leave_nothing_to_apply() -> None:
    emb = PuzzleEmbedding(3, 2)
    opt = SparseSignSGD(emb, lr=0.1)
    with torch.no_grad():
        emb(torch.tensor([1]))
    emb.eval()
    emb(torch.tensor([1]))
    opt.step()
    assert torch.equal(emb.weight, torch.zeros(3, 2))


def test_a_training_step_moves_only_the_batch_puzzle_rows() -> None:
    cfg = tiny_config(num_puzzle_identifiers=8)
    model = make_model(cfg).train()
    batch = make_batch(cfg, 4, seed=0)
    batch["puzzle_identifiers"] = torch.tensor([1, 5, 5, 6])
    optimizers = build_optimizers(
        model, lr=1e-3, weight_decay=0.1, puzzle_emb_lr=1e-2, puzzle_emb_weight_decay=0.1
    )
    carry, out = model(model.initial_carry(batch), batch)
    loss, _ = compute_loss(carry, out)
    loss.backward()
    for opt in optimizers:
        opt.step()
        opt.zero_grad()
    moved = (model.puzzle_emb.weight != 0).any(-1)
    assert moved.nonzero().squeeze(1).tolist() == [1, 5, 6]
    assert torch.allclose(model.puzzle_emb.weight[moved].abs(), torch.full((3, cfg.hidden_size), 1e-2))


def test_build_optimizers_covers_every_weight_once_and_records_base_lr() -> None:
    model = make_model(tiny_config())
    sparse, dense = build_optimizers(
        model, lr=2e-4, weight_decay=0.5, betas=(0.8, 0.9), puzzle_emb_lr=3e-2, puzzle_emb_weight_decay=0.25
    )
    assert isinstance(sparse, SparseSignSGD) and isinstance(dense, AdamAtan2)
    assert sparse.param_groups[0]["base_lr"] == 3e-2 and sparse.param_groups[0]["weight_decay"] == 0.25
    group = dense.param_groups[0]
    assert group["base_lr"] == 2e-4 and group["betas"] == (0.8, 0.9) and group["weight_decay"] == 0.5
    assert {id(p) for p in group["params"]} == {id(p) for p in model.parameters()}
    assert len(group["params"]) == len(list(model.parameters()))
    # A torch.compile wrapper is unwrapped; a model without puzzle embeddings gets only Adam-atan2.
    assert len(build_optimizers(torch.compile(model))) == 2
    assert len(build_optimizers(make_model(tiny_config(puzzle_emb_ndim=0)))) == 1
