import math

import numpy as np
import pytest
import torch
from helpers.train import short_train_config

from hrm_pipeline.train import TrainConfig, train
from hrm_pipeline.train import checkpoint as ckpt

STEPS = 8
KILL_AT = 5  # after the checkpoint at step 4, so the resumed run must redo step 5
CKPT_EVERY = 2  # step 4 is mid-episode (every row restarted at step 4): the resume restores rows in flight


class Killed(Exception):
    pass


def _cfg(**overrides) -> TrainConfig:
    return short_train_config(**{"max_steps": STEPS, **overrides})


def test_a_killed_and_resumed_run_reproduces_the_uninterrupted_losses_bitwise(toy_data, tmp_path, tiny_cfg):
    train_data, _ = toy_data
    # Puzzle embedding on and exploration on: their optimiser and generator state must survive too.
    model_cfg = tiny_cfg(puzzle_emb_ndim=32, halt_exploration_prob=0.5)
    full = train(model_cfg, _cfg(checkpoint_interval=CKPT_EVERY), train_data, None, tmp_path / "full")

    def kill(step, metrics):
        if step == KILL_AT:
            raise Killed

    with pytest.raises(Killed):
        train(
            model_cfg,
            _cfg(checkpoint_interval=CKPT_EVERY),
            train_data,
            None,
            tmp_path / "cut",
            callbacks=[kill],
        )
    state = ckpt.load(tmp_path / "cut" / ckpt.CHECKPOINT_NAME)["train_state"]
    assert state["step"] == 4
    assert not state["carry"]["halted"].any()  # every row is in flight: the carry matters
    resumed = train(model_cfg, _cfg(checkpoint_interval=CKPT_EVERY), train_data, None, tmp_path / "cut")

    assert resumed.start_step == 4 and resumed.steps_done == STEPS
    assert [r["step"] for r in resumed.history] == list(range(5, STEPS + 1))
    want = [(r["loss"], r["accuracy"], r["steps"]) for r in full.history[4:]]
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


def test_checkpoints_change_nothing_in_training_the_carry_is_kept(toy_data, tmp_path, tiny_cfg):
    train_data, _ = toy_data
    model_cfg = tiny_cfg(puzzle_emb_ndim=32, halt_exploration_prob=0.5)
    every5 = train(model_cfg, _cfg(max_steps=20, checkpoint_interval=5), train_data, None, tmp_path / "a")
    never = train(model_cfg, _cfg(max_steps=20, checkpoint_interval=0), train_data, None, tmp_path / "b")
    fields = ("loss", "lm_loss", "q_halt_loss", "halted", "steps")
    got = np.array([[r[k] for k in fields] for r in every5.history])
    want = np.array([[r[k] for k in fields] for r in never.history])
    np.testing.assert_array_equal(got, want)  # bitwise, halting included
    saved = ckpt.load(tmp_path / "a" / ckpt.CHECKPOINT_NAME)["train_state"]["carry"]
    assert saved["z_H"].shape[0] == 16 and not saved["halted"].all()  # rows in flight were saved


def test_no_nan_reaches_the_logged_metrics_when_no_row_halted(toy_data, tmp_path, tiny_cfg):
    train_data, _ = toy_data
    # Exploration on every row: no row may halt before its 2nd segment, so step 1 halts none.
    model_cfg = tiny_cfg(halt_exploration_prob=1.0)
    logged: dict[int, dict[str, float]] = {}
    result = train(model_cfg, _cfg(max_steps=3), train_data, None, tmp_path, callbacks=[logged.__setitem__])
    assert result.history[0]["halted"] == 0 and math.isnan(result.history[0]["accuracy"])
    assert all(math.isfinite(v) for metrics in logged.values() for v in metrics.values())
    assert "train/accuracy" not in logged[1] and "train/steps" not in logged[1]  # left out, not 0
    assert logged[1]["train/halted"] == 0.0 and "train/loss" in logged[1]
    assert "train/accuracy" in logged[3]  # step 3 = halt_max_steps: every row halts
