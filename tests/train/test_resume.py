import numpy as np
import pytest
import torch
from helpers.train import short_train_config

from hrm_pipeline.train import TrainConfig, train
from hrm_pipeline.train import checkpoint as ckpt

STEPS = 8
KILL_AT = 5  # after the checkpoint at step 3, so the resumed run must redo steps 4 and 5


class Killed(Exception):
    pass


def _cfg(**overrides) -> TrainConfig:
    return short_train_config(**{"max_steps": STEPS, **overrides})


def test_a_killed_and_resumed_run_reproduces_the_uninterrupted_losses_bitwise(toy_data, tmp_path, tiny_cfg):
    train_data, _ = toy_data
    # Puzzle embedding on and exploration on: their optimiser and generator state must survive too.
    model_cfg = tiny_cfg(puzzle_emb_ndim=32, halt_exploration_prob=0.5)
    full = train(model_cfg, _cfg(), train_data, None, tmp_path / "full")

    def kill(step, metrics):
        if step == KILL_AT:
            raise Killed

    with pytest.raises(Killed):
        train(model_cfg, _cfg(), train_data, None, tmp_path / "cut", callbacks=[kill])
    assert ckpt.load(tmp_path / "cut" / ckpt.CHECKPOINT_NAME)["train_state"]["step"] == 3
    resumed = train(model_cfg, _cfg(), train_data, None, tmp_path / "cut")

    assert resumed.start_step == 3 and resumed.steps_done == STEPS
    assert [r["step"] for r in resumed.history] == list(range(4, STEPS + 1))
    want = [(r["loss"], r["accuracy"], r["steps"]) for r in full.history[3:]]
    got = [(r["loss"], r["accuracy"], r["steps"]) for r in resumed.history]
    np.testing.assert_array_equal(np.array(got), np.array(want))  # bitwise (NaN = no row halted)
    a = ckpt.load(full.model_path)["model"]
    b = ckpt.load(resumed.model_path)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resuming_a_finished_run_trains_no_further(toy_data, tmp_path, tiny_cfg):
    train_data, _ = toy_data
    model_cfg = tiny_cfg()
    train(model_cfg, _cfg(max_steps=3), train_data, None, tmp_path)
    again = train(model_cfg, _cfg(max_steps=3), train_data, None, tmp_path)
    assert again.start_step == 3 and again.history == []


def test_gradient_accumulation_matches_the_full_batch(toy_data, tmp_path, tiny_cfg):
    train_data, _ = toy_data
    model_cfg = tiny_cfg(halt_exploration_prob=0.0)  # exploration draws differ per micro-batch split
    one = train(model_cfg, _cfg(max_steps=4), train_data, None, tmp_path / "one")
    four = train(model_cfg, _cfg(max_steps=4, grad_accum_steps=4), train_data, None, tmp_path / "four")
    assert [r["loss"] for r in four.history] == pytest.approx([r["loss"] for r in one.history], rel=1e-5)
    a = ckpt.load(one.model_path)["model"]
    b = ckpt.load(four.model_path)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
