"""A small HRM learns the toy 4x4 sudoku well above the trivial baseline on held-out grids.

Measured (this config, 1 thread of a loaded 2-core CPU: 27 s): held-out token accuracy 0.584 after 300
steps vs 0.460 for the trivial baseline (givens copied, most common digit in every blank). Exact accuracy
on minimal puzzles (4-6 givens) is still ~0 at this budget: the test asserts what a CPU minute robustly shows.
"""

import pytest

from hrm_pipeline.data.toy import ToySudokuConfig, baseline_accuracy, build_toy
from hrm_pipeline.model import HRMConfig
from hrm_pipeline.train import TrainConfig, train

MARGIN = 0.08  # required gain over the baseline's token accuracy (measured gain: 0.124)


@pytest.mark.slow
def test_small_hrm_beats_the_trivial_baseline_on_held_out_minimal_puzzles(tmp_path):
    train_data, test_data = build_toy(ToySudokuConfig(seed=0))
    model_cfg = HRMConfig(
        vocab_size=train_data.vocab_size, seq_len=train_data.seq_len, num_puzzle_identifiers=1,
        hidden_size=64, num_heads=4, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_ndim=0,
        halt_max_steps=4,
    )  # fmt: skip
    cfg = TrainConfig(
        global_batch_size=128, lr=1e-3, lr_warmup_steps=50, weight_decay=0.1, epochs=100000, max_steps=300,
        eval_interval=0, checkpoint_interval=0, progress=False, log_interval=50, num_threads=1,
    )  # fmt: skip
    result = train(model_cfg, cfg, train_data, test_data, tmp_path)
    base = baseline_accuracy(test_data)
    assert result.final_eval is not None and result.final_eval.num_examples == len(test_data)
    assert result.final_eval.accuracy >= base["accuracy"] + MARGIN
    assert result.final_eval.mean_steps == model_cfg.halt_max_steps  # eval runs the full ACT budget
