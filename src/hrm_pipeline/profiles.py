"""Profiles: overlays of params.yaml (``profiles/<name>.yaml``) that switch to a recipe in one step.

A profile holds only the keys it changes (a family's model and recipe go in ``families.<family>``, so profiles
of different families combine). ``hrm profile NAME`` prints them as ``-S key=value`` arguments for
``dvc exp run`` (DVC records the run as an experiment, comparable with ``dvc exp show``); ``--write`` merges
them into params.yaml instead. Either way the merged result is checked against the typed schema first.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from hrm_pipeline.atomic import write_text
from hrm_pipeline.config import ConfigError, load_params
from hrm_pipeline.errors import InputError

PROFILE_DIR = Path("profiles")


def profile_path(name_or_path: str, profile_dir: Path = PROFILE_DIR) -> Path:
    """``paper-sudoku`` -> ``profiles/paper-sudoku.yaml``; an existing file path is taken as is."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    path = profile_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in profile_dir.glob("*.yaml")) if profile_dir.is_dir() else []
        raise InputError(f"no profile {name_or_path!r} (known: {', '.join(known) or 'none'})")
    return path


def profile_overrides(path: Path) -> list[str]:
    """The profile's keys as ``key=value`` strings, in file order (lists in YAML flow style)."""
    flat: list[str] = []

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list):
            flat.append(f"{prefix}=[{','.join(str(v) for v in node)}]")
        else:
            flat.append(f"{prefix}={node}")

    walk("", OmegaConf.to_container(OmegaConf.load(path)))
    return flat


def dvc_set_args(params_path: Path, overrides: list[str]) -> list[str]:
    """``overrides`` as ``dvc exp run -S`` arguments: DVC (Hydra's grammar) refuses to set a key the params
    file lacks (e.g. inside an empty ``families.<family>.model: {}``) unless it is written ``++key=value``."""
    doc = OmegaConf.load(params_path) if params_path.exists() else OmegaConf.create()
    args = []
    for override in overrides:
        key = override.partition("=")[0]
        present = OmegaConf.select(doc, key, default=_MISSING) is not _MISSING
        args.append(override if present else f"++{override}")
    return args


_MISSING = object()


def check_profile(params_path: Path, path: Path) -> list[str]:
    """The overrides of ``path``, after checking that params.yaml plus them is a valid configuration."""
    overrides = profile_overrides(path)
    try:
        load_params(params_path, overrides)
    except ConfigError as err:
        raise ConfigError(f"profile {path}: {err}") from None
    return overrides


def write_profile(params_path: Path, path: Path) -> None:
    """Merge the profile into ``params_path`` atomically, only after the check passes."""
    check_profile(params_path, path)
    base = OmegaConf.load(params_path) if params_path.exists() else OmegaConf.create()
    merged = OmegaConf.merge(base, OmegaConf.load(path))
    header = f"# Written by `hrm profile {path.stem} --write` (comments of the previous file are not kept).\n"
    write_text(params_path, header + OmegaConf.to_yaml(merged))
