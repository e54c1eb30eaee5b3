"""Typed configuration: ``params.yaml`` plus command-line overrides, checked before any work starts.

Each work module owns the dataclass of its section (``SudokuConfig``, ``TrainConfig``, ...); this module only
composes them. OmegaConf merges the YAML and the ``key=value`` overrides onto the structured schema, so an
unknown key or a wrong type is refused with the key's name, and callers get plain dataclass objects back.

Every family (sudoku, maze, arc) gets its own model: ``families.<name>`` holds the keys of the shared
``model`` / ``train`` / ``evaluate`` / ``registry`` sections that this family changes, and
:meth:`Params.for_family` hands the work functions one family's view (its dataset as ``pipeline.dataset``, the
merged sections, its reports under ``reports/<name>``), so they never need to know there are several.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from hrm_pipeline.data.arc import ArcConfig
from hrm_pipeline.data.catalog import DATASETS
from hrm_pipeline.data.maze import MazeConfig
from hrm_pipeline.data.sudoku import SudokuConfig
from hrm_pipeline.evaluation import EvaluateConfig
from hrm_pipeline.model import HRMConfig
from hrm_pipeline.tracking import RegistryConfig, TrackingConfig
from hrm_pipeline.train import TrainConfig

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


# One family's changes to a shared section: the section's fields, each optional (None = the shared value).
# Derived from the section's own dataclass, so a field added there can be overridden per family at once.
def _overrides_of(cls: type, name: str, exclude: tuple[str, ...] = ()) -> type:
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.name not in exclude]
    return dataclasses.make_dataclass(name, [(f, Optional[hints[f]], field(default=None)) for f in fields])  # noqa: UP045


ModelOverrides = _overrides_of(HRMConfig, "ModelOverrides", DATA_DERIVED_MODEL_FIELDS)
TrainOverrides = _overrides_of(TrainConfig, "TrainOverrides")
EvaluateOverrides = _overrides_of(EvaluateConfig, "EvaluateOverrides")
RegistryOverrides = _overrides_of(RegistryConfig, "RegistryOverrides")
OVERRIDABLE = ("model", "train", "evaluate", "registry")  # the shared sections a family may change


@dataclass
class FamilyParams:
    model: ModelOverrides = field(default_factory=ModelOverrides)  # type: ignore[valid-type]
    train: TrainOverrides = field(default_factory=TrainOverrides)  # type: ignore[valid-type]
    evaluate: EvaluateOverrides = field(default_factory=EvaluateOverrides)  # type: ignore[valid-type]
    registry: RegistryOverrides = field(default_factory=RegistryOverrides)  # type: ignore[valid-type]


@dataclass
class FamiliesConfig:
    sudoku: FamilyParams = field(default_factory=FamilyParams)
    maze: FamilyParams = field(default_factory=FamilyParams)
    arc: FamilyParams = field(default_factory=FamilyParams)


@dataclass
class PathsConfig:
    data_dir: str = "data"  # one folder per dataset below it
    runs_dir: str = "runs"  # training outputs, one folder per family (checkpoints, curves)
    reports_dir: str = "reports"  # validation reports; reports/<family>: metrics, plots, registry records
    validation_dir: str = ""  # "" = <reports_dir>/validation (a family's view keeps the shared one)


@dataclass
class PipelineConfig:
    families: list[str] = field(default_factory=lambda: list(DATASETS))  # one model each under `dvc repro`
    dataset: str = "sudoku"  # the family of `hrm train|evaluate|register|promote` run without one


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
    families: FamiliesConfig = field(default_factory=FamiliesConfig)

    def for_family(self, name: str) -> Params:
        """Family ``name``'s view: ``pipeline.dataset`` = name, the shared sections with ``families.<name>``
        merged in, reports under ``<reports_dir>/<name>`` (validation reports stay shared)."""
        if name not in DATASETS:
            raise ConfigError(f"unknown family {name!r}; expected one of {', '.join(DATASETS)}")
        changes = getattr(self.families, name)
        merged = {}
        for section in OVERRIDABLE:
            set_here = {
                k: v for k, v in dataclasses.asdict(getattr(changes, section)).items() if v is not None
            }
            try:  # replace() runs the section's own checks on the merged values
                merged[section] = dataclasses.replace(getattr(self, section), **set_here)
            except (TypeError, ValueError) as err:
                raise ConfigError(f"families.{name}.{section}: {str(err).splitlines()[0]}") from None
        paths = dataclasses.replace(
            self.paths,
            reports_dir=str(Path(self.paths.reports_dir) / name),
            validation_dir=str(self.validation_dir()),
        )
        view = dataclasses.replace(
            self, paths=paths, pipeline=dataclasses.replace(self.pipeline, dataset=name), **merged
        )
        try:
            view.model_config(vocab_size=2, seq_len=1, num_puzzle_identifiers=1)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"families.{name}.model: {str(err).splitlines()[0]}") from None
        return view

    def validation_dir(self) -> Path:
        return Path(self.paths.validation_dir or Path(self.paths.reports_dir) / "validation")

    def dataset_config(self, name: str) -> Any:
        if name not in DATASETS:
            raise ConfigError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
        return getattr(self, name)

    def dataset_dir(self, name: str) -> Path:
        return Path(self.paths.data_dir) / name

    def validation_report(self, name: str) -> Path:
        return self.validation_dir() / f"{name}.json"

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
    for key, names in (("dataset", [params.pipeline.dataset]), ("families", params.pipeline.families)):
        unknown = [n for n in names if n not in DATASETS]
        if unknown:
            raise ConfigError(f"pipeline.{key}: {unknown[0]!r} is not one of {', '.join(DATASETS)}")
    if len(set(params.pipeline.families)) != len(params.pipeline.families):
        raise ConfigError(f"pipeline.families: {params.pipeline.families} names a family twice")
    for name in DATASETS:  # every family's overrides, checked now rather than when its stage runs
        try:
            params.for_family(name)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
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
