"""Security checks over the repository: checkpoints load only through the safe unpickler, every server the
project starts binds 127.0.0.1, and no secret-like key or credential sits in params or scripts."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from hrm_pipeline.train import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()
LOOPBACK = "127.0.0.1"
SERVER_COMMANDS = ("prefect server start", "mlflow server", "mlflow ui", "mlflow models serve", "uvicorn")
HOST_FLAGS = ("--host", "-h", "--bind")
SECRET_KEY = re.compile(
    # "token" only as the key's last word (auth_token, token): token_mixer names a model layer, not a secret.
    r"(?i)(passw(or)?d|secret|(^|_)token$|api[_-]?key|access[_-]?key|private[_-]?key|credential)"
)
URL_CREDENTIALS = re.compile(r"[a-z+]+://[^/\s:@'\"]+:[^/\s@'\"]+@")


def project_files() -> list[Path]:
    """Every file the project ships or runs: code, scripts, tests, stage and params files, docs."""
    roots = [REPO / d for d in ("src", "flows", "scripts", "tests", "docs")]
    files = [p for r in roots if r.is_dir() for p in r.rglob("*") if p.is_file()]
    files += [
        REPO / n for n in ("dvc.yaml", "params.yaml", "README.md", "pyproject.toml") if (REPO / n).exists()
    ]
    keep = (".py", ".sh", ".yaml", ".yml", ".toml", ".md")
    return [p for p in files if p.suffix in keep and p.resolve() != THIS and "__pycache__" not in p.parts]


def test_every_torch_load_in_the_code_uses_the_safe_unpickler():
    unsafe = []
    for path in project_files():
        if path.suffix != ".py" or "tests" in path.relative_to(REPO).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value
            name = (owner.id if isinstance(owner, ast.Name) else "", node.func.attr)
            safe = any(
                k.arg == "weights_only" and getattr(k.value, "value", None) is True for k in node.keywords
            )
            if name == ("torch", "load") and not safe or name in {("pickle", "load"), ("pickle", "loads")}:
                unsafe.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert unsafe == []


class _Payload:
    """Unpickling this would create a file: the safe unpickler must refuse it without running it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_carrying_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model": {}, "x": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ckpt.CorruptCheckpoint, match="unreadable"):
        ckpt.load(tmp_path / "evil.pt")
    assert not marker.exists()


def _command_words(path: Path) -> list[list[str]]:
    """Word sequences that may hold a command: shell logical lines; per Python function (and module), its
    one-word string constants in order (commands are argument lists, sometimes over several statements;
    prose such as docstrings is left out)."""
    text = path.read_text(errors="replace")
    if path.suffix == ".sh":
        lines = text.replace("\\\n", " ").splitlines()
        return [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    words = []
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
            consts = (n.value for n in ast.walk(node) if isinstance(n, ast.Constant))
            words.append([c for c in consts if isinstance(c, str) and c and len(c.split()) == 1])
    return words


def _starts_server(words: list[str]) -> bool:
    names = [w.rsplit("/", 1)[-1].strip("'\"") for w in words]
    joined = " " + " ".join(names) + " "
    return any(f" {cmd} " in joined for cmd in SERVER_COMMANDS)


def _binds_loopback(words: list[str]) -> bool:
    pairs = list(zip(words, words[1:], strict=False))
    return any(flag in HOST_FLAGS and value.strip("'\"") == LOOPBACK for flag, value in pairs)


def test_every_server_the_project_starts_binds_loopback():
    found, bad = 0, []
    for path in project_files():
        text = path.read_text(errors="replace")
        if "0.0.0.0" in text:
            bad.append(f"{path.relative_to(REPO)}: 0.0.0.0")
        if path.suffix not in (".sh", ".py"):
            continue
        for words in _command_words(path):
            if _starts_server(words):
                found += 1
                if not _binds_loopback(words):
                    bad.append(f"{path.relative_to(REPO)}: {' '.join(words)[:120]}")
    assert found >= 3  # the Prefect server script and the test servers: the scan does see server starts
    assert bad == []


def _keys(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{prefix}{key}"
            yield from _keys(value, f"{prefix}{key}.")


def test_no_secret_like_keys_in_params_and_no_credentials_in_files():
    for name in ("params.yaml", "dvc.yaml"):
        tree = OmegaConf.to_container(OmegaConf.load(REPO / name))
        assert [k for k in _keys(tree) if SECRET_KEY.search(k.rsplit(".", 1)[-1])] == []
    leaks = []
    for path in project_files():
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if URL_CREDENTIALS.search(line):
                leaks.append(f"{path.relative_to(REPO)}:{i}")
    assert leaks == []
