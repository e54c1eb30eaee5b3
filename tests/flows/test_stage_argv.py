"""Flows run each stage's own dvc.yaml `cmd`: the arguments come from dvc.yaml, so the two cannot drift."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the repository's flows/ package
from flows.stage_tasks import stage_argv  # noqa: E402
from hrm_pipeline.cli import build_parser  # noqa: E402


def test_every_stage_of_dvc_yaml_becomes_its_hrm_command_with_the_same_flags():
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert set(spec) >= {"generate", "validate", "train", "evaluate", "register", "promote"}
    for group, stage in spec.items():
        cmd = stage.get("do", stage)["cmd"]
        argv = stage_argv(f"{group}@maze", REPO)
        assert argv[-2:] == ["--params", str(REPO / "params.yaml")]
        assert argv[:-2] == cmd.replace("${item}", "maze").split()[1:]
        args = build_parser().parse_args(argv)
        assert args.command == group
        assert "maze" in vars(args).values()  # the stage's item reaches the command as its dataset/family
        assert getattr(args, "no_progress", False) is ("--no-progress" in cmd)
