import dataclasses

import numpy as np
import pytest

from hrm_pipeline.model.losses import IGNORE_LABEL
from hrm_pipeline.train.sampler import EpochSampler, make_batch


def _layout():
    # 5 groups; group g has g+1 puzzles; puzzle p of group g has (p % 3) + 1 examples; rows shuffled.
    groups, puzzles = [], []
    pid = 0
    for g in range(5):
        for p in range(g + 1):
            n = p % 3 + 1
            groups += [g] * n
            puzzles += [pid] * n
            pid += 1
    perm = np.random.default_rng(1).permutation(len(groups))
    return np.array(groups)[perm], np.array(puzzles)[perm]


def test_one_epoch_visits_every_group_once_with_all_examples_of_one_puzzle():
    groups, puzzles = _layout()
    s = EpochSampler(groups, puzzles, batch_size=4, seed=3)
    for epoch in range(4):
        idx = s.epoch_indices(epoch)
        assert len(set(idx.tolist())) == len(idx)
        assert sorted(set(groups[idx].tolist())) == list(range(5))
        for g in range(5):
            chosen = set(puzzles[idx][groups[idx] == g].tolist())
            assert len(chosen) == 1  # one puzzle per group...
            (p,) = chosen
            assert np.sum(puzzles[idx] == p) == np.sum(puzzles == p)  # ...with all its examples


def test_batches_are_the_epoch_stream_cut_in_order_and_deterministic_for_a_seed():
    groups, puzzles = _layout()
    a = EpochSampler(groups, puzzles, batch_size=7, seed=3)
    b = EpochSampler(groups, puzzles, batch_size=7, seed=3)
    stream = np.concatenate([a.epoch_indices(e) for e in range(20)])
    batches = np.concatenate([a.next_batch() for _ in range(8)])
    assert np.array_equal(batches, stream[: len(batches)])
    assert np.array_equal(batches, np.concatenate([b.next_batch() for _ in range(8)]))
    other = EpochSampler(groups, puzzles, batch_size=7, seed=4)
    assert not np.array_equal(batches, np.concatenate([other.next_batch() for _ in range(8)]))


def test_sampler_state_roundtrip_continues_the_same_stream():
    groups, puzzles = _layout()
    a = EpochSampler(groups, puzzles, batch_size=5, seed=0)
    for _ in range(3):
        a.next_batch()
    b = EpochSampler(groups, puzzles, batch_size=5, seed=0)
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        assert np.array_equal(a.next_batch(), b.next_batch())
    with pytest.raises(ValueError):
        EpochSampler(groups, puzzles, batch_size=5, seed=9).load_state_dict(a.state_dict())


def test_expected_epoch_length_is_the_mean_puzzle_size_per_group():
    groups, puzzles = _layout()
    s = EpochSampler(groups, puzzles, batch_size=5, seed=0)
    expected = sum(np.mean([p % 3 + 1 for p in range(g + 1)]) for g in range(5))
    assert s.expected_examples_per_epoch() == pytest.approx(expected)


def test_make_batch_maps_ignore_label_to_minus_100(toy_data):
    train = dataclasses.replace(toy_data[0], labels=toy_data[0].labels.copy())
    train.labels[0, 0] = 0  # pad/ignore in the tables
    batch = make_batch(train, np.array([0, 1]))
    assert batch["labels"][0, 0].item() == IGNORE_LABEL
    assert batch["inputs"].dtype == batch["labels"].dtype == batch["puzzle_identifiers"].dtype
    assert tuple(batch["inputs"].shape) == (2, 16)
