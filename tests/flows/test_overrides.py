"""Flow parameters become params.yaml values (so dvc.lock records what a run used), checked first."""

import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's flows/ package
from flows.workspace import apply_overrides  # noqa: E402
from hrm_pipeline.config import ConfigError  # noqa: E402

PARAMS = """\
# CPU default profile
sudoku:
  seed: 0  # the generator's seed
  num_aug: 20
train:
  lr: 0.003
"""


def test_overrides_are_written_into_params_yaml_keeping_its_comments(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    apply_overrides({"sudoku.seed": 3, "train.lr": 0.01, "maze.size": 12}, path)
    text = path.read_text()
    assert text.startswith("# CPU default profile") and "# the generator's seed" in text
    w = OmegaConf.load(path)
    assert (w.sudoku.seed, w.sudoku.num_aug, w.train.lr, w.maze.size) == (3, 20, 0.01, 12)


@pytest.mark.parametrize("bad", [{"sudoku.no_such_key": 1}, {"sudoku.seed": "many"}])
def test_a_bad_override_is_refused_before_the_file_changes(tmp_path, bad):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    with pytest.raises(ConfigError, match="sudoku"):
        apply_overrides(bad, path)
    assert path.read_text() == PARAMS
