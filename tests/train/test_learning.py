"""A small HRM learns the toy 4x4 sudoku (held-out grids, minimal 4-6-given puzzles) far above the baseline.

Trivial baseline on the test split (givens copied, most common digit in every blank): token accuracy 0.460,
exact accuracy 0.000. Measured with this config (1 thread, 400 steps; 32 s alone, ~75 s beside a
second job on the 2 cores):
held-out exact accuracy 0.70 / 0.60 / 0.73 (token 0.93 / 0.90 / 0.93) for train seeds 0 / 1 / 2.

Recipe notes (measured): RoPE is the main obstacle on a flattened 4x4 grid (same row/column/box are
position-difference patterns that RoPE's frequencies do not resolve at head dim 16): with RoPE, runs at lr
1e-3 or 3e-3 stay at token ~0.6 and exact 0.00 after 300-600 steps; learned positions fix it. Softmax CE at
lr 3e-3 learns faster than stablemax at 1e-3; no puzzle embedding (one identifier).
"""

import pytest

from hrm_pipeline.data.toy import ToySudokuConfig, baseline_accuracy, build_toy
from hrm_pipeline.model import HRMConfig
from hrm_pipeline.train import TrainConfig, train

MIN_EXACT = 0.45  # measured 0.60-0.73 over 3 seeds
MIN_TOKEN = 0.85  # measured 0.93; baseline 0.46


@pytest.mark.slow
def test_small_hrm_solves_most_held_out_minimal_puzzles(tmp_path):
    train_data, test_data = build_toy(ToySudokuConfig(seed=0))
    model_cfg = HRMConfig(
        vocab_size=train_data.vocab_size, seq_len=train_data.seq_len, num_puzzle_identifiers=1,
        hidden_size=64, num_heads=4, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_ndim=0,
        halt_max_steps=4, pos_encodings="learned",
    )  # fmt: skip
    cfg = TrainConfig(
        global_batch_size=128, lr=3e-3, lr_warmup_steps=50, weight_decay=0.1, loss_type="softmax",
        epochs=100000, max_steps=400, eval_interval=0, checkpoint_interval=0, progress=False, log_interval=50,
        num_threads=1,
    )  # fmt: skip
    result = train(model_cfg, cfg, train_data, test_data, tmp_path)
    base = baseline_accuracy(test_data)
    assert base["exact_accuracy"] == 0.0 and base["accuracy"] < 0.5
    assert result.final_eval is not None and result.final_eval.num_examples == len(test_data)
    assert result.final_eval.exact_accuracy >= MIN_EXACT
    assert result.final_eval.accuracy >= MIN_TOKEN
    assert result.final_eval.mean_steps == model_cfg.halt_max_steps  # eval runs the full ACT budget
