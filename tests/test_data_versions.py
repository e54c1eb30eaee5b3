"""Data versions: two dataset versions in a git+DVC repo, `hrm data versions` lists them, `hrm data rollback`
restores the first byte for byte from the cache and, once the cache is gone, from the remote."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hrm_pipeline import data_versions

REPO = Path(__file__).resolve().parents[1]
TINY_SUDOKU = {"train_size": 12, "test_size": 6, "num_aug": 1}
GIT_ID = {f"GIT_{w}_{k}": v for w in ("AUTHOR", "COMMITTER") for k, v in (("NAME", "t"), ("EMAIL", "t@t"))}


def run(cmd: list[str], cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **GIT_ID,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out


def hrm(ws: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "hrm_pipeline.cli", *args], ws, ok=ok)


def data_bytes(ws: Path) -> dict[str, bytes]:
    files = sorted((ws / "data" / "sudoku").iterdir()) + [ws / "reports" / "validation" / "sudoku.json"]
    return {f.name: f.read_bytes() for f in files}


def make_version(ws: Path, seed: int, tag: str) -> dict[str, bytes]:
    params = OmegaConf.load(ws / "params.yaml")
    params.sudoku.seed = seed
    OmegaConf.save(params, ws / "params.yaml")
    run(["dvc", "repro", "validate@sudoku"], ws)
    run(["dvc", "push"], ws)
    sha = data_versions.commit_version(ws, f"data {tag}")
    assert sha is not None and data_versions.commit_version(ws) is None  # nothing new to record
    run(["git", "tag", tag, sha], ws)
    return data_bytes(ws)


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """A workspace with data version v1 (sudoku seed 0) then v2 (seed 1), both pushed to a folder remote."""
    root = tmp_path_factory.mktemp("versions")
    ws = root / "project"
    ws.mkdir()
    shutil.copytree(REPO / "src", ws / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
    OmegaConf.save(OmegaConf.merge(OmegaConf.load(REPO / "params.yaml"), {"sudoku": TINY_SUDOKU}),
                   ws / "params.yaml")  # fmt: skip
    run(["git", "init", "-q"], ws)
    run(["dvc", "init", "-q"], ws)
    run(["dvc", "remote", "add", "-d", "store", str(root / "remote")], ws)
    run(["git", "add", "-A"], ws)
    run(["git", "commit", "-qm", "init"], ws)
    with pytest.MonkeyPatch.context() as mp:  # commit_version's git needs an identity, like a user's
        for key, value in GIT_ID.items():
            mp.setenv(key, value)
        v1 = make_version(ws, seed=0, tag="v1")
        v2 = make_version(ws, seed=1, tag="v2")
    assert v1 != v2
    return ws, v1, v2


@pytest.mark.slow
def test_versions_lists_each_data_version_with_params_and_validation(versions):
    ws, _, _ = versions
    listed = json.loads(hrm(ws, "data", "versions", "--json").stdout)
    assert [v["tags"] for v in listed] == [["v1"], ["v2"]]
    sudoku = [v["datasets"]["sudoku"] for v in listed]
    assert [s["params"]["seed"] for s in sudoku] == [0, 1]
    assert [s["validation"] for s in sudoku] == ["passed", "passed"]
    assert sudoku[0]["md5"] != sudoku[1]["md5"]
    assert "seed=1" in data_versions.format_versions(data_versions.list_versions(ws))


@pytest.mark.slow
def test_rollback_restores_identical_tables_from_cache_then_from_remote(versions):
    ws, v1, v2 = versions
    out = hrm(ws, "data", "rollback", "v1")
    assert "from the DVC cache" in out.stdout
    assert data_bytes(ws) == v1
    assert OmegaConf.load(ws / "params.yaml").sudoku.seed == 0
    # The data stages are current again: the next repro trains the sudoku model on v1, not regenerating v2.
    dry = run(["dvc", "repro", "--dry", "train@sudoku"], ws).stdout
    assert "Running stage 'train@sudoku'" in dry and "Running stage 'generate@sudoku'" not in dry

    shutil.rmtree(ws / ".dvc" / "cache")
    assert data_versions.rollback("v2", ws).pulled  # from the remote
    assert data_bytes(ws) == v2
    shutil.rmtree(ws / ".dvc" / "cache")
    data_versions.rollback("v1", ws)
    assert data_bytes(ws) == v1


def test_rollback_of_an_unknown_revision_is_one_line_and_exit_2(tmp_path):
    run(["git", "init", "-q"], tmp_path)
    out = hrm(tmp_path, "data", "rollback", "no-such-rev", ok=False)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no-such-rev" in out.stderr
