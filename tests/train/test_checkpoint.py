from pathlib import Path

import pytest
import torch

from hrm_pipeline.model import build_optimizers, compute_loss
from hrm_pipeline.train import checkpoint as ckpt
from hrm_pipeline.train.loop import build_model
from hrm_pipeline.train.sampler import make_batch


def _trained_model(toy_data, tiny_cfg):
    model = build_model(tiny_cfg(puzzle_emb_ndim=32), seed=0, device=torch.device("cpu"))
    opts = build_optimizers(model, lr=1e-3, weight_decay=0.1)
    batch = make_batch(toy_data[0], torch.arange(8).numpy())
    carry, out = model(model.initial_carry(batch), batch)
    loss, _ = compute_loss(carry, out)
    loss.backward()
    for opt in opts:
        opt.step()
    return model, opts


def test_checkpoint_roundtrip_restores_weights_and_optimiser_state_under_weights_only(
    toy_data, tmp_path, tiny_cfg
):
    model, opts = _trained_model(toy_data, tiny_cfg)
    gen = torch.Generator().manual_seed(5)
    state = {"step": 7, "sampler": {"epoch": 1, "cursor": 3, "seed": 0}, "rng": ckpt.rng_state(gen)}
    ckpt.save_checkpoint(tmp_path / "c.pt", model, opts, state)

    fresh = build_model(tiny_cfg(puzzle_emb_ndim=32), seed=1, device=torch.device("cpu"))
    fresh_opts = build_optimizers(fresh, lr=1e-3, weight_decay=0.1)
    loaded = ckpt.load(tmp_path / "c.pt")  # weights_only=True inside: plain types and tensors only
    restored = ckpt.restore_checkpoint(loaded, fresh, fresh_opts)
    assert restored["step"] == 7 and restored["sampler"]["cursor"] == 3
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    adam, fresh_adam = opts[-1], fresh_opts[-1]
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(adam.state[p]["exp_avg_sq"], fresh_adam.state[q]["exp_avg_sq"])
    other = torch.Generator()
    ckpt.set_rng_state(restored["rng"], other)
    assert torch.equal(torch.rand(4, generator=gen), torch.rand(4, generator=other))


def test_weights_saved_from_a_compiled_model_load_into_an_uncompiled_one(toy_data, tmp_path, tiny_cfg):
    model, _ = _trained_model(toy_data, tiny_cfg)
    compiled = torch.compile(model)  # the wrapper's state_dict carries the "_orig_mod." prefix
    raw = compiled.state_dict()
    assert all(k.startswith(ckpt.COMPILE_PREFIX) for k in raw)
    ckpt.atomic_torch_save({"model": raw}, tmp_path / "compiled.pt")
    fresh = build_model(tiny_cfg(puzzle_emb_ndim=32), seed=1, device=torch.device("cpu"))
    ckpt.load_model_weights(fresh, tmp_path / "compiled.pt")
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # And our own writer never stores the prefix, even when handed the compiled wrapper.
    ckpt.save_checkpoint(tmp_path / "c.pt", compiled, [], {"step": 0})
    assert not any(k.startswith(ckpt.COMPILE_PREFIX) for k in ckpt.load(tmp_path / "c.pt")["model"])


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    ckpt.atomic_torch_save({"step": 1}, path)

    def broken_save(obj, f):
        Path(f).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        ckpt.atomic_torch_save({"step": 2}, path)
    monkeypatch.undo()
    assert ckpt.load(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
