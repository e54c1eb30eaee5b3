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


# ----- TRM (recurrence="trm"): the same inference path, TRM's halting rule -----

TRM_CFG = tiny_model_config(recurrence="trm", q_continue=False, pos_encodings="learned")


def test_a_trm_model_written_by_train_loads_through_predictor_and_matches_the_act_wrapper(tmp_path):
    from helpers.train import short_train_config

    from hrm_pipeline.data.toy import ToySudokuConfig, build_toy
    from hrm_pipeline.train import train

    train_data, test_data = build_toy(ToySudokuConfig(seed=0, test_grids=48, puzzles_per_grid=4))
    train(TRM_CFG, short_train_config(max_steps=3), train_data, None, tmp_path, resume=False)
    pred = Predictor.from_file(tmp_path / "model.pt")
    assert pred.config.recurrence == "trm" and pred.model.H_level is None
    inputs = test_data.inputs[:6].astype(np.int64)
    got = pred.predict(inputs)
    batch = {
        "inputs": torch.as_tensor(inputs),
        "labels": torch.as_tensor(inputs),
        "puzzle_identifiers": torch.zeros(6, dtype=torch.long),
    }
    with torch.no_grad():
        carry = pred.model.initial_carry(batch)
        for _ in range(TRM_CFG.halt_max_steps):
            carry, out = pred.model(carry, batch)
    np.testing.assert_array_equal(got.tokens, out["logits"].argmax(-1).numpy())
    assert got.tokens.min() >= 0 and got.tokens.max() < TRM_CFG.vocab_size


def test_q_mode_without_q_continue_stops_where_q_halt_is_positive(tmp_path):
    torch.manual_seed(0)
    model = HRM(TRM_CFG)
    with torch.no_grad():  # q_halt spread around 0; the continue logit is far above it and must be ignored
        model.q_head.weight.normal_(0, 1.0)
        model.q_head.bias.copy_(torch.tensor([0.0, 10.0]))
    from dataclasses import asdict

    path = tmp_path / "model.pt"
    atomic_torch_save({"model": model.state_dict(), "model_config": asdict(model.config)}, path)
    pred = Predictor.from_file(path)
    inputs = np.random.default_rng(1).integers(1, 6, size=(32, 16))
    q = pred.predict(inputs, halt="q", max_steps=6)
    assert np.all((q.q_halt > 0) | (q.steps == 6))  # stopped rows said halt by TRM's rule
    assert (q.steps < 6).any()  # ... and some did stop, though q_halt < q_continue everywhere
    assert np.all(q.q_halt < q.q_continue)
    for k in np.unique(q.steps):  # rows that ran k segments had not said halt before
        rows = q.steps == k
        if k > 1:
            earlier = pred.predict(inputs[rows], max_steps=int(k) - 1)
            assert np.all(earlier.q_halt <= 0)
