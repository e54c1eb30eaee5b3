"""Global training batches from a TokenDataset, by the reference's epoch rule, resumable.

One epoch visits every group (original puzzle) once in a shuffled order, draws one of its puzzles
(augmented variants) uniformly and takes all of that puzzle's examples. The epochs are concatenated into one
stream and cut into global batches, so a batch may straddle two epochs and no example is dropped or padded.

Each epoch's order comes from a generator seeded with ``(seed, epoch)``: the whole sampler state is then two
integers (epoch, cursor), which checkpoints exactly and needs no pickled generator state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hrm_pipeline.data.storage import IGNORE_LABEL_ID, TokenDataset
from hrm_pipeline.model.losses import IGNORE_LABEL


@dataclass
class SamplerState:
    epoch: int = 0
    cursor: int = 0  # position inside the epoch's example order


class EpochSampler:
    def __init__(self, group_ids: np.ndarray, puzzle_ids: np.ndarray, batch_size: int, seed: int):
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        group_ids = np.asarray(group_ids)
        puzzle_ids = np.asarray(puzzle_ids)
        if len(group_ids) == 0:
            raise ValueError("cannot sample from an empty dataset")
        self.batch_size = batch_size
        self.seed = seed
        # Examples sorted by (group, puzzle); puzzles and groups are then contiguous runs (CSR layout).
        self._example_order = np.lexsort((np.arange(len(group_ids)), puzzle_ids, group_ids))
        g = group_ids[self._example_order]
        p = puzzle_ids[self._example_order]
        puzzle_start = np.flatnonzero(np.r_[True, (g[1:] != g[:-1]) | (p[1:] != p[:-1])])
        self._puzzle_start = puzzle_start
        self._puzzle_len = np.diff(np.r_[puzzle_start, len(g)])
        group_of_puzzle = g[puzzle_start]
        group_first_puzzle = np.flatnonzero(np.r_[True, group_of_puzzle[1:] != group_of_puzzle[:-1]])
        self._group_first_puzzle = group_first_puzzle
        self._group_num_puzzles = np.diff(np.r_[group_first_puzzle, len(puzzle_start)])
        self.state = SamplerState()
        self._epoch_cache: tuple[int, np.ndarray] | None = None

    @classmethod
    def from_dataset(cls, data: TokenDataset, batch_size: int, seed: int) -> EpochSampler:
        return cls(data.group_ids, data.puzzle_ids, batch_size, seed)

    @property
    def num_groups(self) -> int:
        return len(self._group_first_puzzle)

    def expected_examples_per_epoch(self) -> float:
        """Mean epoch length: per group, the mean example count over its puzzles."""
        sums = np.add.reduceat(self._puzzle_len, self._group_first_puzzle)
        return float(np.sum(sums / self._group_num_puzzles))

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """Dataset row indices of one epoch, in visiting order."""
        if self._epoch_cache is not None and self._epoch_cache[0] == epoch:
            return self._epoch_cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        groups = rng.permutation(self.num_groups)
        choice = rng.integers(0, self._group_num_puzzles[groups])
        puzzles = self._group_first_puzzle[groups] + choice
        starts = self._puzzle_start[puzzles]
        lens = self._puzzle_len[puzzles]
        # Expand each chosen puzzle's [start, start + len) run without a Python loop.
        run_offsets = np.repeat(np.cumsum(lens) - lens, lens)
        positions = np.repeat(starts, lens) + (np.arange(lens.sum()) - run_offsets)
        indices = self._example_order[positions]
        self._epoch_cache = (epoch, indices)
        return indices

    def next_batch(self) -> np.ndarray:
        """The next ``batch_size`` row indices of the stream; advances the state."""
        parts: list[np.ndarray] = []
        need = self.batch_size
        while need > 0:
            order = self.epoch_indices(self.state.epoch)
            take = order[self.state.cursor : self.state.cursor + need]
            parts.append(take)
            need -= len(take)
            self.state.cursor += len(take)
            if self.state.cursor >= len(order):
                self.state = SamplerState(epoch=self.state.epoch + 1, cursor=0)
        return np.concatenate(parts)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.state.epoch, "cursor": self.state.cursor, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["seed"]) != self.seed:
            raise ValueError(f"sampler seed mismatch: checkpoint {state['seed']}, config {self.seed}")
        self.state = SamplerState(epoch=int(state["epoch"]), cursor=int(state["cursor"]))


def make_batch(data: TokenDataset, indices: np.ndarray, device: str | torch.device = "cpu") -> dict:
    """Rows ``indices`` of ``data`` as the model's batch dict of int64 tensors on ``device``."""
    labels = data.labels[indices].astype(np.int64)
    labels[labels == IGNORE_LABEL_ID] = IGNORE_LABEL  # the loss's ignore label; the tables store 0
    batch = {
        "inputs": torch.from_numpy(data.inputs[indices].astype(np.int64)),
        "labels": torch.from_numpy(labels),
        "puzzle_identifiers": torch.from_numpy(data.puzzle_identifiers[indices].astype(np.int64)),
    }
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
