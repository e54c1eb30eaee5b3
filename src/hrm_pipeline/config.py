"""Typed configuration: ``params.yaml`` plus command-line overrides, checked before any work starts.

Each work module owns the dataclass of its section (``SudokuConfig``, ``TrainConfig``, ...); this module only
composes them. OmegaConf merges the YAML and the ``key=value`` overrides onto the structured schema, so an
unknown key or a wrong type is refused with the key's name, and callers get plain dataclass objects back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from hrm_pipeline.data.arc import ArcConfig
from hrm_pipeline.data.maze import MazeConfig
from hrm_pipeline.data.sudoku import SudokuConfig
from hrm_pipeline.evaluation import EvaluateConfig
from hrm_pipeline.model import HRMConfig
from hrm_pipeline.tracking import RegistryConfig, TrackingConfig
from hrm_pipeline.train import TrainConfig

DATASETS = ("sudoku", "maze", "arc")
# Filled from the dataset's metadata at train time, so params.yaml never repeats them.
DATA_DERIVED_MODEL_FIELDS = ("vocab_size", "seq_len", "num_puzzle_identifiers")

# The model section is HRMConfig without the data-derived fields: derived, not copied, so it cannot drift.
ModelParams = dataclasses.make_dataclass(
    "ModelParams",
    [
        (f.name, f.type, field(default=f.default))
        for f in dataclasses.fields(HRMConfig)
        if f.name not in DATA_DERIVED_MODEL_FIELDS
    ],
)


@dataclass
class PathsConfig:
    data_dir: str = "data"  # one folder per dataset below it
    runs_dir: str = "runs"  # training outputs (checkpoints, curves)
    reports_dir: str = "reports"  # validation reports, metrics, plots


@dataclass
class PipelineConfig:
    dataset: str = "sudoku"  # which dataset the train stage uses


@dataclass
class Params:
    paths: PathsConfig = field(default_factory=PathsConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    sudoku: SudokuConfig = field(default_factory=SudokuConfig)
    maze: MazeConfig = field(default_factory=MazeConfig)
    arc: ArcConfig = field(default_factory=ArcConfig)
    model: ModelParams = field(default_factory=ModelParams)  # type: ignore[valid-type]
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)

    def dataset_config(self, name: str) -> Any:
        if name not in DATASETS:
            raise ConfigError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
        return getattr(self, name)

    def dataset_dir(self, name: str) -> Path:
        return Path(self.paths.data_dir) / name

    def validation_report(self, name: str) -> Path:
        return Path(self.paths.reports_dir) / "validation" / f"{name}.json"

    def model_config(self, *, vocab_size: int, seq_len: int, num_puzzle_identifiers: int) -> HRMConfig:
        return HRMConfig(
            vocab_size=vocab_size,
            seq_len=seq_len,
            num_puzzle_identifiers=num_puzzle_identifiers,
            **dataclasses.asdict(self.model),
        )


class ConfigError(ValueError):
    """A user's configuration is wrong; the message names the key."""


def load_params(
    path: str | Path = "params.yaml", overrides: list[str] | None = None, *, missing_ok: bool = False
) -> Params:
    """Read ``path`` and apply ``key=value`` overrides; a missing ``path`` is refused unless ``missing_ok``
    (for commands that train nothing, e.g. `hrm solve --checkpoint` outside the project folder)."""
    path = Path(path)
    use_file = not (missing_ok and not path.exists())
    if use_file and not path.is_file():
        # NOTE: the dataclass defaults are the paper-size recipe (27M params, batch 768): falling back to
        # them silently would start days of training from a typo in --params.
        raise ConfigError(f"{path}: no such params file (run from the project folder or pass --params)")
    merged = None
    try:
        schema = OmegaConf.structured(Params)
        layers = [schema, _load_yaml(path)] if use_file else [schema]
        if overrides:
            bad = [o for o in overrides if "=" not in o]
            if bad:
                raise ConfigError(f"override {bad[0]!r} is not of the form key=value")
            layers.append(OmegaConf.from_dotlist(list(overrides)))
        merged = OmegaConf.merge(*layers)
        params = OmegaConf.to_object(merged)
        # The model section is checked by HRMConfig.__post_init__ only once data fields are known; build
        # one with placeholder data fields now so a bad model value fails before any work starts.
        params.model_config(vocab_size=2, seq_len=1, num_puzzle_identifiers=1)
    except OmegaConfBaseException as err:
        raise ConfigError(_describe(err, path)) from None
    except (TypeError, ValueError) as err:  # a dataclass __post_init__ refusing a value
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{path}: {_failing_section(merged)}{str(err).splitlines()[0]}") from None
    assert isinstance(params, Params)
    if params.pipeline.dataset not in DATASETS:
        raise ConfigError(
            f"pipeline.dataset: {params.pipeline.dataset!r} is not one of {', '.join(DATASETS)}"
        )
    return params


def _load_yaml(path: Path) -> Any:
    try:
        return OmegaConf.load(path)
    except yaml.YAMLError as err:  # syntax errors and duplicate keys: one line, not a parser traceback
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', None) or err}") from None


def _failing_section(merged: Any) -> str:
    """``"<section>: "`` for a value a section's own checks refused (their messages name only the field)."""
    if merged is None:
        return ""
    for name in merged:
        try:
            OmegaConf.to_object(merged[name])
        except (TypeError, ValueError, OmegaConfBaseException):
            return f"{name}: "
    return "model: "  # every section converts alone: HRMConfig (built from the model section) refused it


def _describe(err: OmegaConfBaseException, path: Path) -> str:
    key = getattr(err, "full_key", None)
    msg = str(err).splitlines()[0]
    if not key:
        return f"{path}: {msg}"
    if isinstance(err, ConfigKeyError):
        return f"{path}: unknown key '{key}'"
    return f"{path}: key '{key}': {msg}"  # OmegaConf's message names the expected type


def to_plain(obj: Any) -> dict[str, Any]:
    """A dataclass as plain nested dicts (for metadata, logging)."""
    return dataclasses.asdict(obj)
