"""Kill -9 during training: each restart resumes from the newest intact checkpoint, and the run ends exactly
where an uninterrupted one does (CPU: bitwise, the same loss at every step, replayed steps included)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import kill_child

from hrm_pipeline.train import checkpoint as ckpt
from hrm_pipeline.train import train

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
KILLS = 5
MAX_DELAY_S = 0.02  # after the chosen step: lands the kill mid-step, mid-save or mid-log at random
CHILD_TIMEOUT_S = 120


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def reference(tmp_path_factory, toy_train):
    """The uninterrupted run: per-step records and final weights."""
    out = tmp_path_factory.mktemp("reference")
    result = train(kill_child.model_config(), kill_child.train_config(), toy_train, None, out)
    records = {int(r["step"]): r for r in result.history}
    return records, ckpt.load(out / ckpt.MODEL_NAME)["model"]


def spawn(run: Path, *extra: str) -> subprocess.Popen:
    path = os.pathsep.join([str(TESTS), str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "helpers.kill_child", str(run), *extra]
    return subprocess.Popen(cmd, cwd=TESTS, env=env, stdout=subprocess.PIPE, text=True)


def next_line(proc: subprocess.Popen) -> str:
    """The child's next stdout line ("step N", "paused", "done S E"); "" at exit."""
    return proc.stdout.readline().strip()


def newest_intact_step(run: Path) -> int:
    """The step a restart must resume from, read without touching the files; 0 = a fresh start."""
    for path in (run / ckpt.CHECKPOINT_NAME, ckpt.previous_path(run / ckpt.CHECKPOINT_NAME)):
        try:
            return int(ckpt.load(path)["train_state"]["step"])
        except (FileNotFoundError, ckpt.CorruptCheckpoint):
            continue
    return 0


def finish(run: Path, expected_start: int) -> None:
    proc = spawn(run)
    out, _ = proc.communicate(timeout=CHILD_TIMEOUT_S)
    assert proc.returncode == 0
    assert f"done {expected_start} {kill_child.STEPS}" in out


def assert_same_as_reference(run: Path, reference) -> None:
    records, weights = reference
    logged = [json.loads(line) for line in (run / kill_child.LOG_NAME).read_text().splitlines()]
    assert {r["step"] for r in logged} == set(records)
    for rec in logged:  # replayed steps too: a resumed step must repeat its first run exactly
        want = records[rec["step"]]
        got = (rec["train/loss"], rec["train/lm_loss"], rec["train/halted"])
        assert got == (want["loss"], want["lm_loss"], want["halted"]), rec["step"]
    final = ckpt.load(run / ckpt.MODEL_NAME)["model"]
    assert final.keys() == weights.keys()
    assert all(torch.equal(final[k], weights[k]) for k in weights)
    leftovers = [p.name for p in run.iterdir() if p.name.endswith((".tmp", ckpt.CORRUPT_SUFFIX))]
    assert leftovers == []


@pytest.mark.slow
def test_five_kills_at_random_points_then_the_same_model_as_an_uninterrupted_run(tmp_path, reference):
    rng = random.Random(20261123)
    run = tmp_path / "run"
    start = 0
    kills = mid_save = 0
    for _ in range(KILLS):
        proc = spawn(run)
        line = next_line(proc)
        assert line == f"step {start + 1}", f"expected a resume from step {start}, got {line!r}"
        target = min(start + 1 + rng.randint(0, 5), kill_child.STEPS - 2)
        while line != f"step {target}":
            line = next_line(proc)
            assert line.startswith("step "), line
        time.sleep(rng.uniform(0.0, MAX_DELAY_S))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=CHILD_TIMEOUT_S)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        mid_save += any(run.glob(f".{ckpt.CHECKPOINT_NAME}.*.tmp"))  # the kill landed inside a save
        start = newest_intact_step(run)
        assert start >= target - 1 - (target - 1) % 2  # at most one interval lost (checkpoint_interval 2)
    finish(run, start)
    assert kills == KILLS
    assert_same_as_reference(run, reference)
    print(f"training kills survived: {kills} ({mid_save} inside a checkpoint save)")


@pytest.mark.slow
def test_a_kill_between_the_two_renames_of_a_save_resumes_from_the_previous_checkpoint(tmp_path, reference):
    run = tmp_path / "run"
    proc = spawn(run, "--pause-before-publish", "3")  # saves: step 0, step 2, step 4 <- paused
    while (line := next_line(proc)) != "paused":
        assert line.startswith("step "), line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=CHILD_TIMEOUT_S)
    assert not (run / ckpt.CHECKPOINT_NAME).exists()  # moved aside, its successor not yet published
    assert list(run.glob(f".{ckpt.CHECKPOINT_NAME}.*.tmp"))  # the unpublished successor
    assert newest_intact_step(run) == 2
    finish(run, 2)
    assert_same_as_reference(run, reference)


def _stopped_run(run: Path, toy_train, at_step: int) -> None:
    def stop(step, metrics):
        if step == at_step:
            raise Stop

    with pytest.raises(Stop):
        train(kill_child.model_config(), kill_child.train_config(), toy_train, None, run, callbacks=[stop])


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_weight_byte(path: Path) -> None:
    """Flip one byte inside a tensor's data: torch.load still succeeds, only the digest can tell."""
    weights = ckpt.load(path)["model"]
    needle = next(t for t in weights.values() if t.numel() >= 64).reshape(-1)[:16].numpy().tobytes()
    raw = bytearray(path.read_bytes())
    at = raw.find(needle)
    assert at >= 0
    raw[at + 5] ^= 0x40
    path.write_bytes(bytes(raw))
    torch.load(path, weights_only=True)  # still loads: the damage is silent without the digest


@pytest.mark.parametrize("damage", [_truncate, _flip_a_weight_byte], ids=["truncated", "bit-flip"])
def test_a_damaged_newest_checkpoint_is_detected_and_the_previous_one_used(
    tmp_path, toy_train, reference, damage, caplog
):
    run = tmp_path / "run"
    _stopped_run(run, toy_train, at_step=9)  # checkpoints: step 8 (newest), step 6 (previous)
    newest = run / ckpt.CHECKPOINT_NAME
    damage(newest)
    with pytest.raises(ckpt.CorruptCheckpoint):
        ckpt.load(newest)
    cfg = kill_child.train_config()
    result = train(kill_child.model_config(), cfg, toy_train, None, run)
    assert result.start_step == 6
    assert "trying the previous checkpoint" in caplog.text
    assert (run / (ckpt.CHECKPOINT_NAME + ckpt.CORRUPT_SUFFIX)).exists()  # kept aside for inspection
    records, weights = reference
    assert [r["loss"] for r in result.history] == [records[s]["loss"] for s in range(7, kill_child.STEPS + 1)]
    final = ckpt.load(result.model_path)["model"]
    assert all(torch.equal(final[k], weights[k]) for k in weights)


def test_with_both_checkpoints_damaged_the_run_starts_over_and_still_matches(tmp_path, toy_train, reference):
    run = tmp_path / "run"
    _stopped_run(run, toy_train, at_step=9)
    newest = run / ckpt.CHECKPOINT_NAME
    _truncate(newest)
    _flip_a_weight_byte(ckpt.previous_path(newest))
    result = train(kill_child.model_config(), kill_child.train_config(), toy_train, None, run)
    assert result.start_step == 0
    final = ckpt.load(result.model_path)["model"]
    assert all(torch.equal(final[k], reference[1][k]) for k in final)


def test_a_damaged_model_file_is_refused_with_one_clear_error(tmp_path, toy_train):
    cfg = kill_child.train_config()
    result = train(kill_child.model_config(), cfg.__class__(**{**cfg.__dict__, "max_steps": 2}), toy_train,
                   None, tmp_path)  # fmt: skip
    _flip_a_weight_byte(result.model_path)
    with pytest.raises(ckpt.CorruptCheckpoint, match="does not match its sha256 digest"):
        ckpt.load(result.model_path)
