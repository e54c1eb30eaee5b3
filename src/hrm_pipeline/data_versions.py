"""Data versions: the dataset stages' entries of ``dvc.lock`` at each git commit, and rollback to one of them.

A data version is addressed by any git revision (commit, tag, branch) whose ``dvc.lock`` recorded the
``generate@<dataset>`` / ``validate@<dataset>`` stages. The bytes live in the DVC cache and the DVC remote;
git holds only their hashes and the params that built them.

Rollback restores those two stages' lock entries and the dataset's params section from REV, then checks the
data out of the cache (pulling from the remote when the cache lacks it). The lock then says the data stages
are up to date, so the next ``dvc repro`` (or training flow) retrains on the restored data, not regenerating.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from hrm_pipeline.atomic import write_text
from hrm_pipeline.errors import InputError

LOCK_FILE = "dvc.lock"
PARAMS_FILE = "params.yaml"
# The dvc.yaml foreach groups that make up a dataset version (one entry per dataset each).
DATA_STAGE_GROUPS = ("generate", "validate")
WORKSPACE = "workspace"  # the rev name of uncommitted changes to dvc.lock


@dataclass
class DatasetVersion:
    md5: str  # DVC's hash of data/<name>
    params: dict[str, Any]  # the params section the data was built with
    validation: str  # "passed", "stale" (report is of other bytes) or "none"


@dataclass
class DataVersion:
    rev: str  # full commit hash, or "workspace"
    date: str
    subject: str
    tags: list[str] = field(default_factory=list)
    datasets: dict[str, DatasetVersion] = field(default_factory=dict)

    @property
    def short(self) -> str:
        return self.rev if self.rev == WORKSPACE else self.rev[:8]


@dataclass
class RollbackResult:
    rev: str
    datasets: list[str]
    pulled: bool  # True when the cache lacked the data and it came from the remote


def _run(cmd: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)


def _git(root: Path, *args: str) -> str:
    out = _run(["git", *args], root)
    if out.returncode != 0:
        raise InputError(f"git {' '.join(args)}: {_last_line(out.stderr)}")
    return out.stdout


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the DVC CLI of this environment; waits for DVC's repo lock instead of failing on it."""
    return _run([sys.executable, "-m", "dvc", "--wait-for-lock", *args], root)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "failed"


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: keeps the comments of params.yaml
    yaml.default_flow_style = False
    return yaml


def _parse_lock(text: str) -> dict[str, Any]:
    return (YAML(typ="safe").load(text) or {}).get("stages", {})


def dataset_versions(lock_stages: dict[str, Any]) -> dict[str, DatasetVersion]:
    """The datasets recorded in a ``dvc.lock`` ``stages`` mapping."""
    found: dict[str, DatasetVersion] = {}
    for stage, entry in lock_stages.items():
        group, _, name = stage.partition("@")
        if group != "generate" or not name:
            continue
        out = next((o for o in entry.get("outs", []) if o["path"].rstrip("/").endswith(f"/{name}")), None)
        if out is None:
            continue
        params = entry.get("params", {}).get(PARAMS_FILE, {}).get(name, {})
        found[name] = DatasetVersion(
            out["md5"], dict(params), _validation(lock_stages, name, out["path"], out["md5"])
        )
    return found


def _validation(lock_stages: dict[str, Any], name: str, data_path: str, md5: str) -> str:
    entry = lock_stages.get(f"validate@{name}")
    if entry is None:
        return "none"
    dep = next((d for d in entry.get("deps", []) if d["path"] == data_path), None)
    return "passed" if dep is not None and dep.get("md5") == md5 else "stale"


def list_versions(root: str | Path = ".") -> list[DataVersion]:
    """Each commit at which the recorded data changed, oldest first, plus an uncommitted workspace change."""
    root = Path(root)
    log = _git(root, "log", "--reverse", "--format=%H%x1f%cI%x1f%s", "--", LOCK_FILE)
    tags: dict[str, list[str]] = {}
    refs = _git(root, "for-each-ref", "--format=%(objectname) %(*objectname) %(refname:short)", "refs/tags")
    for line in refs.splitlines():
        obj, peeled, tag = line.split(" ", 2)
        tags.setdefault(peeled or obj, []).append(tag)  # an annotated tag names the commit it peels to

    versions: list[DataVersion] = []
    last: dict[str, str] | None = None
    for line in log.splitlines():
        sha, date, subject = line.split("\x1f", 2)
        try:
            text = _git(root, "show", f"{sha}:{LOCK_FILE}")
        except InputError:  # the commit deleted dvc.lock
            continue
        datasets = dataset_versions(_parse_lock(text))
        hashes = {n: d.md5 for n, d in datasets.items()}
        if datasets and hashes != last:
            versions.append(DataVersion(sha, date, subject, tags.get(sha, []), datasets))
            last = hashes
        elif versions and sha in tags:  # a tag on a commit that kept the data still names that version
            versions[-1].tags.extend(tags[sha])
    lock = root / LOCK_FILE
    if lock.exists():
        datasets = dataset_versions(_parse_lock(lock.read_text()))
        if datasets and {n: d.md5 for n, d in datasets.items()} != last:
            versions.append(DataVersion(WORKSPACE, "", "uncommitted dvc.lock", [], datasets))
    return versions


def commit_version(root: str | Path = ".", message: str = "data version") -> str | None:
    """Commit ``dvc.lock`` and ``params.yaml`` (only those) so the current data is addressable; returns the
    new commit, or None when neither changed since the last commit."""
    root = Path(root)
    paths = [p for p in (LOCK_FILE, PARAMS_FILE) if (root / p).exists()]
    _git(root, "add", "--", *paths)
    if _run(["git", "diff", "--cached", "--quiet", "--", *paths], root).returncode == 0:
        return None
    _git(root, "commit", "-q", "-m", message, "--", *paths)
    return _git(root, "rev-parse", "HEAD").strip()


def rollback(rev: str, root: str | Path = ".", datasets: list[str] | None = None) -> RollbackResult:
    """Restore the datasets recorded at ``rev`` (their lock entries, params and bytes) into the workspace."""
    root = Path(root)
    try:
        old_text = _git(root, "show", f"{rev}:{LOCK_FILE}")
    except InputError:
        raise InputError(f"revision {rev!r} is unknown or has no {LOCK_FILE}") from None
    old_stages = _parse_lock(old_text)
    recorded = dataset_versions(old_stages)
    names = list(datasets) if datasets else sorted(recorded)
    missing = [n for n in names if n not in recorded]
    if not names or missing:
        raise InputError(f"revision {rev!r} records no data version of {', '.join(missing) or 'any dataset'}")
    stages = [f"{g}@{n}" for n in names for g in DATA_STAGE_GROUPS if f"{g}@{n}" in old_stages]

    lock_path, params_path = root / LOCK_FILE, root / PARAMS_FILE
    backup = {p: p.read_text() if p.exists() else None for p in (lock_path, params_path)}
    # Put the data being replaced into the cache first, so the forced checkout below loses nothing.
    present = [s for s in stages if _outputs_present(root, old_stages[s])]
    if present and (out := dvc(root, "commit", "--force", *present)).returncode != 0:
        raise InputError(f"cannot save the current data before the rollback: {_last_line(out.stderr)}")
    _restore_lock_entries(lock_path, {s: old_stages[s] for s in stages})
    _restore_params(params_path, {n: recorded[n].params for n in names})

    pulled = False
    if dvc(root, "checkout", "--force", *stages).returncode != 0:  # the cache lacks it: the remote has it
        pulled = True
        out = dvc(root, "pull", "--force", *stages)
        if out.returncode != 0:
            for path, text in backup.items():  # leave the workspace as it was
                if text is not None:
                    write_text(path, text)
            dvc(root, "checkout", "--force", *stages)
            raise InputError(f"cannot restore the data of {rev!r}: {_last_line(out.stderr or out.stdout)}")
    return RollbackResult(rev, names, pulled)


def _outputs_present(root: Path, entry: dict[str, Any]) -> bool:
    return all((root / o["path"]).exists() for o in entry.get("outs", []))


def _restore_lock_entries(path: Path, entries: dict[str, Any]) -> None:
    yaml = _yaml()
    doc = yaml.load(path.read_text()) if path.exists() else None
    if not doc:
        doc = {"schema": "2.0", "stages": {}}
    doc.setdefault("stages", {}).update(entries)
    write_text(path, _dump(yaml, doc))


def _restore_params(path: Path, sections: dict[str, dict[str, Any]]) -> None:
    yaml = _yaml()
    doc = (yaml.load(path.read_text()) if path.exists() else None) or {}
    for name, values in sections.items():
        section = doc.setdefault(name, {})
        for key in [k for k in section if k not in values]:  # keys the old version did not have
            del section[key]
        for key, value in values.items():
            if section.get(key) != value:
                section[key] = value  # key by key, so the file's comments stay
    write_text(path, _dump(yaml, doc))


def _dump(yaml: YAML, doc: Any) -> str:
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def format_versions(versions: list[DataVersion]) -> str:
    """One line per dataset of each version; params show what changed since the previous version."""
    lines = []
    previous: dict[str, DatasetVersion] = {}
    for v in versions:
        head = f"{v.short}  {v.date[:19]}  {' '.join(v.tags) or '-'}  {v.subject}"
        lines.append(head)
        for name, d in sorted(v.datasets.items()):
            before = previous.get(name)
            if before is None:
                change = "params " + (" ".join(f"{k}={_fmt(x)}" for k, x in d.params.items()) or "-")
            elif before.md5 == d.md5:
                change = "unchanged"
            else:
                diff = {k: x for k, x in d.params.items() if before.params.get(k) != x}
                change = "params " + (" ".join(f"{k}={_fmt(x)}" for k, x in diff.items()) or "unchanged")
            lines.append(f"    {name:<7} {d.md5[:8]}  validation {d.validation:<6}  {change}")
        previous.update(v.datasets)
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return '""' if value == "" else str(value).replace(" ", "")
