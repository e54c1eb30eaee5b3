"""No host sync per step: the loop's device->host transfers all go through loop.to_host, once per fetch
(every log_interval steps, at evaluations and checkpoints), with the non-finite guard on."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from helpers.train import short_train_config

from hrm_pipeline.train import loop, train

STEPS, EVERY = 20, 5


def _count_to_host(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    real = loop.to_host

    def counted(tensor):
        calls.append(tuple(tensor.shape))
        return real(tensor)

    monkeypatch.setattr(loop, "to_host", counted)
    return calls


def _count_bypasses(monkeypatch) -> list[str]:
    """item()/cpu() called from the loop or the guard other than inside to_host."""
    bypasses: list[str] = []
    for name in ("item", "cpu", "tolist"):
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            code = sys._getframe(1).f_code
            ours = (
                code.co_filename.endswith(("train/loop.py", "train/guard.py")) and code.co_name != "to_host"
            )
            if ours and (_name != "tolist" or self.device.type != "cpu"):  # tolist of the fetched host copy
                bypasses.append(f"{code.co_name}: {_name}")
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return bypasses


@pytest.mark.parametrize("checkpoint_interval", [0, 4])
def test_host_fetches_are_one_per_log_interval_plus_checkpoints(
    toy_data, tmp_path, tiny_cfg, monkeypatch, checkpoint_interval
):
    calls = _count_to_host(monkeypatch)
    cfg = short_train_config(max_steps=STEPS, log_interval=EVERY, checkpoint_interval=checkpoint_interval)
    assert cfg.nonfinite_patience > 0  # the guard is on: it must not sync either
    result = train(tiny_cfg(puzzle_emb_ndim=0), cfg, toy_data[0], None, tmp_path)
    assert len(result.history) == STEPS
    checkpoints = STEPS // checkpoint_interval if checkpoint_interval else 0
    assert len(calls) <= math.ceil(STEPS / EVERY) + checkpoints
    assert len(calls) >= math.ceil(STEPS / EVERY)
    assert sum(shape[0] for shape in calls) == STEPS  # every step's record came through one of them


def test_nothing_in_the_loop_bypasses_to_host(toy_data, tmp_path, tiny_cfg, monkeypatch):
    bypasses = _count_bypasses(monkeypatch)
    cfg = short_train_config(max_steps=10, log_interval=EVERY, checkpoint_interval=0, grad_clip=1.0)
    train(tiny_cfg(), cfg, toy_data[0], None, tmp_path)
    assert bypasses == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_no_cuda_sync_between_fetches(toy_data, tmp_path, tiny_cfg, monkeypatch):
    """torch.cuda.set_sync_debug_mode('error') from one fetch to the next: any sync in a step raises."""
    real = loop.to_host

    def fetch_allowed(tensor):
        torch.cuda.set_sync_debug_mode("default")
        return real(tensor)

    def strict_until_next_fetch(step, metrics):
        if "train/loss" in metrics and step % EVERY == 0 and step < STEPS:
            torch.cuda.set_sync_debug_mode("error")

    monkeypatch.setattr(loop, "to_host", fetch_allowed)
    cfg = short_train_config(max_steps=STEPS, log_interval=EVERY, checkpoint_interval=0, device="cuda")
    try:
        result = train(tiny_cfg(), cfg, toy_data[0], None, tmp_path, callbacks=[strict_until_next_fetch])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(result.history) == STEPS
