"""EMA of the weights (train.ema_decay): the average, what evaluation and model.pt use, exact resume."""

import copy

import pytest
import torch
from helpers.train import short_train_config

from hrm_pipeline.model import HRM
from hrm_pipeline.train import TrainConfig, evaluate, train
from hrm_pipeline.train import checkpoint as ckpt
from hrm_pipeline.train.ema import WeightEMA

DECAY = 0.9  # far from 1, so a few steps move the average visibly away from both the start and the weights


class Killed(Exception):
    pass


def test_the_average_follows_the_hand_formula_and_a_skipped_step_leaves_it():
    net = torch.nn.Linear(3, 2)
    start = {n: p.detach().clone() for n, p in net.named_parameters()}
    ema = WeightEMA(net, DECAY)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    ema.update(net, bad=torch.tensor(True))
    assert all(torch.equal(ema.shadow[n], start[n]) for n in start)
    ema.update(net, bad=torch.tensor(False))
    for n, p in net.named_parameters():
        torch.testing.assert_close(ema.shadow[n], DECAY * start[n] + (1 - DECAY) * p.detach())
    ema.update(net)  # no guard: the plain update
    for n, p in net.named_parameters():
        want = DECAY * (DECAY * start[n] + (1 - DECAY) * p.detach()) + (1 - DECAY) * p.detach()
        torch.testing.assert_close(ema.shadow[n], want)


def test_ema_decay_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=-0.1)


def test_evaluation_and_model_pt_use_the_ema_and_the_checkpoint_holds_both(toy_data, tmp_path, tiny_cfg):
    train_data, test_data = toy_data
    model_cfg = tiny_cfg()
    result = train(
        model_cfg, short_train_config(max_steps=6, ema_decay=DECAY), train_data, test_data, tmp_path
    )
    shipped = ckpt.load(result.model_path)["model"]
    saved = ckpt.load(tmp_path / ckpt.CHECKPOINT_NAME)
    live, average = saved["model"], saved["train_state"]["ema"]
    trainable = list(average)
    assert trainable and all(torch.equal(shipped[k], average[k]) for k in trainable)
    assert all(not torch.equal(live[k], average[k]) for k in trainable)  # 6 steps at 0.9: still apart
    # The final evaluation scored the EMA weights, not the live ones.
    for weights, want_equal in ((shipped, True), (live, False)):
        model = HRM(model_cfg)
        model.load_state_dict(weights)
        cfg = short_train_config()  # the training run's evaluation batch: the same sums in the same order
        got = evaluate(model, test_data, cfg.global_batch_size, device="cpu", loss_type=cfg.loss_type)
        assert (got.lm_loss == result.final_eval.lm_loss) is want_equal


def test_a_killed_and_resumed_run_continues_the_same_average(toy_data, tmp_path, tiny_cfg):
    train_data, _ = toy_data
    model_cfg = tiny_cfg(halt_exploration_prob=0.5)
    cfg = short_train_config(max_steps=8, checkpoint_interval=2, ema_decay=DECAY)
    full = train(model_cfg, cfg, train_data, None, tmp_path / "full")

    def kill(step, metrics):
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train(model_cfg, copy.copy(cfg), train_data, None, tmp_path / "cut", callbacks=[kill])
    resumed = train(model_cfg, cfg, train_data, None, tmp_path / "cut")
    assert resumed.start_step == 4
    a = ckpt.load(full.model_path)["model"]
    b = ckpt.load(resumed.model_path)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    ema_a = ckpt.load(tmp_path / "full" / ckpt.CHECKPOINT_NAME)["train_state"]["ema"]
    ema_b = ckpt.load(tmp_path / "cut" / ckpt.CHECKPOINT_NAME)["train_state"]["ema"]
    assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)
