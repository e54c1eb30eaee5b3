"""params.yaml is typed: bad keys and values are refused with the key's name before any work starts."""

import pytest

from hrm_pipeline.config import ConfigError, load_params
from hrm_pipeline.model import HRMConfig

REPO_PARAMS = "params.yaml"


def test_repo_params_load_and_build_a_model_config():
    params = load_params(REPO_PARAMS)
    cfg = params.model_config(vocab_size=8, seq_len=36, num_puzzle_identifiers=1)
    assert isinstance(cfg, HRMConfig) and cfg.hidden_size == params.model.hidden_size


def test_overrides_apply_with_types():
    params = load_params(REPO_PARAMS, ["train.lr=0.5", "maze.train_size=7", "arc.extra_task_paths=[a,b]"])
    assert params.train.lr == 0.5 and params.maze.train_size == 7
    assert params.arc.extra_task_paths == ["a", "b"]


@pytest.mark.parametrize(
    "override, needle",
    [
        ("sudoku.bogus=1", "unknown key 'sudoku.bogus'"),
        ("sudoku.train_size=abc", "key 'sudoku.train_size'"),
        ("model.H_cycles=two", "key 'model.H_cycles'"),
        ("model.num_heads=3", "divisible by num_heads"),
        ("pipeline.dataset=cifar", "pipeline.dataset"),
        ("train.lr", "not of the form key=value"),
    ],
)
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(ConfigError, match=None) as err:
        load_params(REPO_PARAMS, [override])
    assert needle in str(err.value)


def test_unknown_key_in_file_is_refused(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train:\n  lr: 0.1\n  lrr: 0.2\n")
    with pytest.raises(ConfigError, match="unknown key 'train.lrr'"):
        load_params(bad)
