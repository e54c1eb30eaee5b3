"""Profiles switch the pipeline to a paper recipe in one step, checked against the typed schema."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_pipeline.config import ConfigError, load_params
from hrm_pipeline.profiles import check_profile, profile_path, write_profile

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))
TRM_PROFILES = sorted((ROOT / "profiles").glob("paper-trm-*.yaml"))


@pytest.mark.parametrize("path", TRM_PROFILES, ids=lambda p: p.stem)
def test_each_trm_profile_gives_the_trm_papers_model_and_recipe(path):
    dataset = path.stem.removeprefix("paper-trm-")
    before = load_params(ROOT / "params.yaml")
    whole = load_params(ROOT / "params.yaml", check_profile(ROOT / "params.yaml", path))
    params = whole.for_family(dataset)
    cfg = params.model_config(vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    assert (cfg.recurrence, cfg.gradient, cfg.q_continue) == ("trm", "last_recursion", False)
    assert (cfg.hidden_size, cfg.L_layers, cfg.H_cycles, cfg.L_cycles, cfg.halt_max_steps) == (
        512,
        2,
        3,
        6,
        16,
    )
    assert params.train.lr == pytest.approx(1e-4)
    assert dataset in whole.pipeline.families  # `dvc repro` trains it
    for other in {"sudoku", "maze", "arc"} - {dataset}:  # the other families keep their recipe
        assert whole.for_family(other).model == before.for_family(other).model
    assert params.train.weight_decay == pytest.approx(0.1 if dataset == "arc" else 1.0)
    assert cfg.token_mixer == ("mlp" if dataset == "sudoku" else "attention")
    # the HRM paper profile's data, so the two recurrences are compared on the same puzzles
    hrm = load_params(
        ROOT / "params.yaml", check_profile(ROOT / "params.yaml", ROOT / f"profiles/paper-{dataset}.yaml")
    )
    assert getattr(whole, dataset) == getattr(hrm, dataset)


PAPER = sorted(p for p in PROFILES if p.stem in {f"paper-{f}" for f in ("sudoku", "maze", "arc")})
assert TRM_PROFILES and set(TRM_PROFILES) <= set(PROFILES)


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_each_paper_profile_gives_its_family_the_paper_model_and_recipe_and_leaves_the_others(path):
    family = path.stem.removeprefix("paper-")
    before = load_params(ROOT / "params.yaml")
    params = load_params(ROOT / "params.yaml", check_profile(ROOT / "params.yaml", path))
    view = params.for_family(family)
    cfg = view.model_config(vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    assert (cfg.hidden_size, cfg.H_layers, cfg.L_layers, cfg.halt_max_steps) == (512, 4, 4, 16)
    # the paper's HRM, whatever the CPU default chose for the family (the CPU maze uses the MLP mixer)
    assert (cfg.token_mixer, cfg.q_continue) == ("attention", True)
    assert view.train.global_batch_size == 768 and view.train.lr == pytest.approx(1e-4)
    assert view.train.precision == "bf16"
    assert family in params.pipeline.families  # `dvc repro` trains it
    for other in {"sudoku", "maze", "arc"} - {family}:  # the CPU recipe of the other families is kept
        assert params.for_family(other).model == before.for_family(other).model
        assert params.for_family(other).train == before.for_family(other).train


def test_write_merges_into_params_and_keeps_other_keys(tmp_path):
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    before = load_params(params_file)
    write_profile(params_file, ROOT / "profiles" / "paper-maze.yaml")
    after = load_params(params_file)
    assert after.for_family("maze").model.hidden_size == 512 and after.maze.size == 30
    assert after.sudoku == before.sudoku and after.model == before.model  # untouched sections survive
    assert after.for_family("sudoku").model == before.for_family("sudoku").model


def test_a_bad_profile_is_refused_and_params_left_alone(tmp_path):
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: fast\n")
    with pytest.raises(ConfigError, match="train.lr"):
        write_profile(params_file, bad)
    assert params_file.read_bytes() == (ROOT / "params.yaml").read_bytes()


def test_cli_prints_dvc_args_and_names_unknown_profiles(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "hrm_pipeline.cli", "profile", "paper-sudoku"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert "-S sudoku.bucket_edges=[0,1,3," in out.stdout  # a key params.yaml has: set as is
    # One params.yaml lacks (its family section is empty): DVC's -S adds it only when written ++key=value.
    assert "-S ++families.sudoku.model.hidden_size=512" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "hrm_pipeline.cli", "profile", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.strip().startswith("hrm: no profile 'nope'")
    assert "Traceback" not in bad.stderr
    assert profile_path("paper-arc", ROOT / "profiles").name == "paper-arc.yaml"


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_each_profiles_dvc_args_parse_in_the_grammar_dvc_exp_run_reads(path):
    """`dvc exp run $(hrm profile P)`: DVC parses -S with Hydra's override grammar, which takes a key part of
    digits ("26") but not "33-35"; a key it refuses would stop the paper run before it starts."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hrm_pipeline.profiles import dvc_set_args, profile_overrides

    args = dvc_set_args(ROOT / "params.yaml", profile_overrides(path))
    parsed = OverridesParser.create().parse_overrides(args)
    assert [o.key_or_group for o in parsed] == [a.removeprefix("++").partition("=")[0] for a in args]
