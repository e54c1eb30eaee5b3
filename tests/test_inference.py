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


def test_q_mode_stops_each_row_at_its_halt_and_freezes_its_answer(model_file):
    path, _ = model_file
    pred = Predictor.from_file(path)
    inputs = np.random.default_rng(1).integers(1, 6, size=(32, 16))
    q = pred.predict(inputs, halt="q", max_steps=6)
    assert q.steps.min() >= 1 and q.steps.max() <= 6
    assert np.all((q.q_halt > q.q_continue) | (q.steps == 6))  # stopped rows said halt
    for k in np.unique(q.steps):  # each row's answer is the one at its own stopping step
        rows = q.steps == k
        fixed = pred.predict(inputs[rows], max_steps=int(k))
        np.testing.assert_array_equal(q.tokens[rows], fixed.tokens)


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
