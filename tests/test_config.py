"""params.yaml is typed: bad keys and values are refused with the key's name before any work starts."""

from pathlib import Path

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
        ("pipeline.families=[sudoku,cifar]", "pipeline.families: 'cifar'"),
        ("pipeline.families=[maze,maze]", "names a family twice"),
        ("families.maze.train.lrr=1", "unknown key 'families.maze.train.lrr'"),
        ("families.cifar.train.lr=1", "unknown key 'families.cifar'"),
        ("families.maze.train.lr=fast", "key 'families.maze.train.lr'"),
        ("families.maze.train.precision=fp64", "families.maze.train: precision must be"),
        ("families.arc.model.num_heads=3", "families.arc.model: hidden_size 64 must be divisible"),
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


def test_a_family_view_merges_its_overrides_onto_the_shared_sections():
    params = load_params(
        REPO_PARAMS,
        ["families.maze.train.max_steps=7", "families.maze.model.hidden_size=32", "train.lr=0.5"],
    )
    maze, sudoku = params.for_family("maze"), params.for_family("sudoku")
    assert (maze.train.max_steps, maze.model.hidden_size, maze.train.lr) == (7, 32, 0.5)  # lr: shared
    assert (sudoku.train.max_steps, sudoku.model.hidden_size) == (
        params.train.max_steps,
        params.model.hidden_size,
    )
    assert maze.pipeline.dataset == "maze" and sudoku.pipeline.dataset == "sudoku"
    # Each family's reports in its own folder; the validation reports stay shared.
    assert maze.paths.reports_dir == "reports/maze" and sudoku.paths.reports_dir == "reports/sudoku"
    assert (
        maze.validation_report("maze")
        == params.validation_report("maze")
        == Path("reports/validation/maze.json")
    )
    assert maze.paths.runs_dir == params.paths.runs_dir and maze.dataset_dir("maze") == params.dataset_dir(
        "maze"
    )


def test_the_arc_family_is_gated_on_pass_at_2_and_the_others_on_exact_accuracy():
    params = load_params(REPO_PARAMS)
    assert params.for_family("arc").registry.gate_metric == "arc.pass_at_2"
    assert params.for_family("maze").registry.gate_metric == params.registry.gate_metric == "exact_accuracy"
