"""The shared inference path agrees with the ACT wrapper the model was trained and evaluated with."""

import numpy as np
import pytest
import torch
from helpers.train import tiny_model_config

from hrm_pipeline.inference import Predictor
from hrm_pipeline.model import HRM
from hrm_pipeline.train.checkpoint import atomic_torch_save

CFG = tiny_model_config(pos_encodings="learned")  # 16 tokens, vocab 6, hidden 32, 3 ACT segments


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    model = HRM(CFG)
    with torch.no_grad():  # a non-trivial Q-head so some rows halt early
        model.q_head.weight.normal_(0, 1.0)
        model.q_head.bias.zero_()
    from dataclasses import asdict

    path = tmp_path / "model.pt"
    atomic_torch_save({"model": model.state_dict(), "model_config": asdict(model.config)}, path)
    return path, model


def test_max_mode_matches_act_wrapper_in_eval(model_file):
    path, model = model_file
    pred = Predictor.from_file(path)
    inputs = np.random.default_rng(0).integers(1, 6, size=(5, 16))
    batch = {
        "inputs": torch.as_tensor(inputs),
        "labels": torch.as_tensor(inputs),
        "puzzle_identifiers": torch.zeros(5, dtype=torch.long),
    }
    model.eval()
    with torch.no_grad():
        carry = model.initial_carry(batch)
        for _ in range(CFG.halt_max_steps):
            carry, out = model(carry, batch)
    got = pred.predict(inputs)
    np.testing.assert_array_equal(got.tokens, out["logits"].argmax(-1).numpy())
    np.testing.assert_array_equal(got.steps, np.full(5, CFG.halt_max_steps))
    np.testing.assert_allclose(got.q_halt, out["q_halt_logits"].numpy(), rtol=1e-6)


def test_q_mode_stops_each_row_at_its_halt_and_freezes_its_answer(model_file, tmp_path):
    from dataclasses import asdict

    _, model = model_file
    with torch.no_grad():
        # Swap the Q-head's halt and continue rows: with this seed the halt margin then grows over the
        # segments, at a different pace per row, so rows halt at several different steps (and some never).
        model.q_head.weight.copy_(model.q_head.weight.flip(0))
    path = tmp_path / "swapped.pt"
    atomic_torch_save({"model": model.state_dict(), "model_config": asdict(model.config)}, path)
    pred = Predictor.from_file(path)
    inputs = np.random.default_rng(1).integers(1, 6, size=(32, 16))
    budget = 6
    each = [pred.predict(inputs, max_steps=k) for k in range(1, budget + 1)]  # every row runs k segments
    margin = np.stack([p.q_halt - p.q_continue for p in each], axis=1)  # (N, budget)
    said_halt = margin > 0
    expected = np.where(said_halt.any(1), said_halt.argmax(1) + 1, budget)  # first segment that says halt

    q = pred.predict(inputs, halt="q", max_steps=budget)
    assert len(np.unique(q.steps)) >= 3 and (q.steps < budget).sum() >= 3, q.steps  # the rule is exercised
    np.testing.assert_array_equal(q.steps, expected)
    rows = np.arange(len(inputs))
    frozen = np.stack([p.tokens for p in each])[q.steps - 1, rows]  # each row's answer at its own halt
    np.testing.assert_array_equal(q.tokens, frozen)
    np.testing.assert_allclose(q.q_halt, np.stack([p.q_halt for p in each])[q.steps - 1, rows], rtol=1e-6)
    # Freezing matters: some halted rows would have answered differently had they kept running.
    early = q.steps < budget
    assert (q.tokens[early] != each[-1].tokens[early]).any(axis=1).any()


def test_states_and_bad_input(model_file):
    path, _ = model_file
    pred = Predictor.from_file(path)
    out = pred.predict(np.ones((3, 16), dtype=np.int64), return_states=True, batch_size=2)
    total = pred.config.total_len  # puzzle-embedding positions + tokens
    assert out.z_H.shape == (3, total, 32) and out.z_L.shape == (3, total, 32)
    with pytest.raises(ValueError, match="tokens"):
        pred.predict(np.ones((3, 15), dtype=np.int64))
    with pytest.raises(ValueError, match="lie in"):
        pred.predict(np.full((1, 16), 9))
    with pytest.raises(FileNotFoundError):
        Predictor.from_file(path.parent / "missing.pt")
