"""Validate a dataset folder: every split against its dataset's schema, then train/test leakage.

The report records a fingerprint of the files it checked, so training can refuse data that changed since
(or was never) validated.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from hrm_pipeline.data.catalog import dataset_module
from hrm_pipeline.data.schema import REPORT_ROWS, ValidationFailed, validate_table
from hrm_pipeline.data.storage import read_meta, read_split


@dataclass
class ValidationReport:
    dataset: str
    fingerprint: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rows_per_second: float = 0.0
    passed: bool = True

    def to_json(self) -> dict:
        # Timings stay out of the file: it is a DVC output the train stage depends on, so it must be
        # byte-identical whenever the data is.
        return {k: v for k, v in asdict(self).items() if k not in ("seconds", "rows_per_second")}


def fingerprint(data_dir: Path) -> str:
    """sha256 over the dataset's files (names and bytes), in name order."""
    digest = hashlib.sha256()
    for path in sorted(Path(data_dir).iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def validate_dataset(name: str, data_dir: Path) -> ValidationReport:
    """Raise :class:`ValidationFailed` with a readable report, or return what passed."""
    module = dataset_module(name)
    data_dir = Path(data_dir)
    meta = read_meta(data_dir)
    if meta.dataset != name:
        raise ValidationFailed(f"{data_dir}: holds dataset {meta.dataset!r}, not {name!r}")
    start = time.perf_counter()
    schema = module.schema(meta)
    counts = json.loads((data_dir / "metadata.json").read_text()).get("splits", {})
    splits: dict[str, pl.DataFrame] = {}
    for split in ("train", "test"):
        df = read_split(data_dir, split)
        expected = counts.get(split, {}).get("rows")
        if expected is not None and expected != df.height:
            raise ValidationFailed(
                f"{name}/{split}: metadata.json says {expected} rows, the table has {df.height}"
            )
        validate_table(df, schema, label=f"{name}/{split}")
        splits[split] = df
    check_no_leakage(name, splits["train"], splits["test"], module.leakage_key)
    variety = getattr(module, "check_variety", None)  # optional: a dataset's own rules on split variety
    if variety is not None:
        variety(meta, splits)
    seconds = time.perf_counter() - start
    rows = {k: v.height for k, v in splits.items()}
    return ValidationReport(
        dataset=name,
        fingerprint=fingerprint(data_dir),
        rows=rows,
        seconds=round(seconds, 3),
        rows_per_second=round(sum(rows.values()) / max(seconds, 1e-9), 1),
    )


def check_no_leakage(name: str, train: pl.DataFrame, test: pl.DataFrame, key_fn) -> None:
    """No test row may be equivalent (same leakage key) to any train row."""
    train_keys = key_fn(train).unique()
    test_keys = key_fn(test)
    leaked = test_keys.is_in(train_keys.implode()) if len(train_keys) else pl.Series([False] * len(test_keys))
    if leaked.any():
        idx = leaked.arg_true().to_list()
        rows = test[idx[:REPORT_ROWS]].select("example_id", "group_id")
        lines = [f"{name}: train/test leakage: {len(idx)} test row(s) equivalent to a train row"]
        for i, (example, group) in zip(idx, rows.iter_rows(), strict=False):
            lines.append(f"      test row {i}: example_id={example}, group_id={group}")
        raise ValidationFailed("\n".join(lines))
