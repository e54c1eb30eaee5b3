"""Non-finite loss or gradients (NaNs injected): the step is skipped and counted; a run of them restores the
last good checkpoint with a lower lr and says why; a run that keeps diverging stops with a clear error."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import kill_child
from helpers.train import short_train_config

from hrm_pipeline.model import Carry
from hrm_pipeline.train import checkpoint as ckpt
from hrm_pipeline.train import guard, loop, train

STEPS = 12


class Injector:
    """Poisons the loss (or one weight's gradient) on chosen optimizer steps, counted per forward call."""

    def __init__(self, monkeypatch, bad_calls: set[int] | None, kind: str = "loss") -> None:
        self.calls = 0
        self.bad_calls = bad_calls  # None = every call
        self.model = None
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}
        real_loss, real_build = loop.compute_loss, loop.build_model

        def compute_loss(carry, out, **kw):
            self.calls += 1
            loss, metrics = real_loss(carry, out, **kw)
            if kind == "loss" and self.bad_now:
                loss = loss * math.nan
            return loss, metrics

        def build_model(*args, **kw):
            self.model = real_build(*args, **kw)
            first = next(self.model.parameters())
            first.register_hook(lambda g: g * math.nan if kind == "grad" and self.bad_now else g)
            return self.model

        monkeypatch.setattr(loop, "compute_loss", compute_loss)
        monkeypatch.setattr(loop, "build_model", build_model)

    @property
    def bad_now(self) -> bool:
        return self.bad_calls is None or self.calls in self.bad_calls

    def snapshot(self, step: int, metrics: dict[str, float]) -> None:
        if "train/loss" in metrics:  # log_interval 1: called right after each step
            self.snapshots[step] = {k: v.clone() for k, v in self.model.state_dict().items()}


def _run(tmp_path, toy_train, injector: Injector, **overrides):
    cfg = short_train_config(max_steps=STEPS, checkpoint_interval=2, **overrides)
    return train(kill_child.model_config(), cfg, toy_train, None, tmp_path, callbacks=[injector.snapshot])


@pytest.mark.parametrize("grad_clip", [0.0, 1.0], ids=["no-clip", "clip"])
@pytest.mark.parametrize("kind", ["loss", "grad"])
def test_a_non_finite_step_is_skipped_and_counted(tmp_path, toy_train, monkeypatch, kind, grad_clip):
    inj = Injector(monkeypatch, bad_calls={4}, kind=kind)  # the 4th forward = step 4
    result = _run(tmp_path, toy_train, inj, grad_clip=grad_clip)
    skipped = [r["step"] for r in result.history if r["skipped"]]
    assert skipped == [4] and result.extra["nonfinite_skipped"] == 1
    assert result.extra["nonfinite_restores"] == 0 and result.steps_done == STEPS
    same = [torch.equal(inj.snapshots[3][k], inj.snapshots[4][k]) for k in inj.snapshots[3]]
    assert all(same)  # step 4 made no update
    assert not all(torch.equal(inj.snapshots[4][k], inj.snapshots[5][k]) for k in inj.snapshots[4])
    final = ckpt.load(result.model_path)["model"]
    assert all(torch.isfinite(t).all() for t in final.values())


# log_interval 4: the flags are read at the fetches (steps 2, 4, 6, 8 with checkpoint_interval 2), so the
# restore triggered by step 7 happens at the fetch of step 8; step 8's record is dropped with the replay.
@pytest.mark.parametrize("log_interval", [1, 4])
def test_repeated_non_finite_steps_restore_the_last_good_checkpoint_with_a_lower_lr(
    tmp_path, toy_train, monkeypatch, caplog, log_interval
):
    inj = Injector(monkeypatch, bad_calls={5, 6, 7})  # steps 5-7 in a row; their replays are clean
    result = _run(
        tmp_path, toy_train, inj, nonfinite_patience=3, nonfinite_lr_factor=0.25, log_interval=log_interval
    )
    steps = [r["step"] for r in result.history]
    # No checkpoint after the skipped step 6, so the last good one is step 4; steps 5.. run again.
    assert steps == [1, 2, 3, 4, 5, 6, 7, *range(5, STEPS + 1)]
    first, again = result.history[4:7], result.history[7:10]
    for a, b in zip(first, again, strict=True):
        assert b["lr"] == pytest.approx(0.25 * a["lr"])
    assert "3 steps in a row at step 7: restored checkpoint.pt (step 4), lr scale now 0.25" in caplog.text
    assert result.extra == {"nonfinite_skipped": 3, "nonfinite_restores": 1, "lr_scale": 0.25}
    # The lowered lr is part of the checkpoint: a kill now and a resume keep it.
    state = ckpt.load(tmp_path / ckpt.CHECKPOINT_NAME)["train_state"]
    assert state["nonfinite"] == {"lr_scale": 0.25, "skipped": 3, "restores": 1}
    final = ckpt.load(result.model_path)["model"]
    assert all(torch.isfinite(t).all() for t in final.values())


@pytest.mark.parametrize("log_interval", [1, 4])
def test_a_run_that_keeps_diverging_stops_with_a_clear_error_and_a_good_checkpoint(
    tmp_path, toy_train, monkeypatch, log_interval
):
    inj = Injector(monkeypatch, bad_calls=None)
    with pytest.raises(loop.TrainingDiverged, match=r"after 2 restores \(lr scale 0.25\); lower train.lr"):
        _run(
            tmp_path,
            toy_train,
            inj,
            nonfinite_patience=2,
            nonfinite_max_restores=2,
            log_interval=log_interval,
        )
    saved = ckpt.load(tmp_path / ckpt.CHECKPOINT_NAME)
    assert saved["train_state"]["step"] == 0
    assert all(torch.isfinite(t).all() for t in saved["model"].values())


def test_without_the_guard_one_nan_step_ruins_the_weights(tmp_path, toy_train, monkeypatch):
    inj = Injector(monkeypatch, bad_calls={3})
    result = _run(tmp_path, toy_train, inj, nonfinite_patience=0)
    assert result.extra["nonfinite_skipped"] == 0 and not any(r["skipped"] for r in result.history)
    final = ckpt.load(result.model_path)["model"]
    assert not all(torch.isfinite(t).all() for t in final.values())


def test_after_a_skipped_step_only_the_carried_rows_with_non_finite_states_are_dropped():
    size, length, dim = 4, 3, 2
    carry = Carry(
        z_H=torch.zeros(size, length, dim),
        z_L=torch.zeros(size, length, dim),
        steps=torch.tensor([1, 2, 1, 2], dtype=torch.int32),
        halted=torch.tensor([False, False, False, True]),
        current_data={"inputs": torch.arange(size * length).view(size, length)},
    )
    carry.z_H[1, 2, 0] = math.nan
    carry.z_L[2, 0, 1] = math.inf
    guard.drop_nonfinite_rows([carry])
    assert carry.halted.tolist() == [False, True, True, True]  # rows 1, 2 restart; row 0 continues
    assert carry.steps.tolist() == [1, 2, 1, 2] and torch.equal(carry.z_H[0], torch.zeros(length, dim))


@pytest.mark.parametrize("kind", ["loss", "grad"])
def test_a_skip_read_at_a_later_fetch_masks_the_update_on_the_device_and_fixes_the_step_counter(
    tmp_path, toy_train, monkeypatch, kind
):
    """log_interval 4: step 3's flag is only read at the fetch of step 4, yet step 3 made no update and the
    optimiser's step counter ends at the number of good steps."""
    inj = Injector(monkeypatch, bad_calls={3}, kind=kind)
    result = _run(tmp_path, toy_train, inj, log_interval=4)
    assert [r["step"] for r in result.history if r["skipped"]] == [3]
    assert result.extra["nonfinite_skipped"] == 1 and result.steps_done == STEPS
    saved = ckpt.load(tmp_path / ckpt.CHECKPOINT_NAME)
    counters = {s["step"] for opt in saved["optimizers"] for s in opt["state"].values() if "step" in s}
    assert counters == {STEPS - 1}
    assert all(torch.isfinite(t).all() for t in saved["model"].values())
    moments = [
        v for opt in saved["optimizers"] for s in opt["state"].values() for k, v in s.items() if k != "step"
    ]
    assert moments and all(torch.isfinite(v).all() for v in moments)  # the NaN step never reached them
