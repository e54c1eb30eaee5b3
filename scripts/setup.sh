#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv.
# CPU machines get the local CPU torch wheel pinned first so nothing pulls a multi-GB CUDA build;
# GPU users set HRM_TORCH_SPEC (e.g. HRM_TORCH_SPEC="torch>=2.4") to take torch from their index.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${HRM_TORCH_SPEC:-torch==2.13.0}
stamp=.venv/.installed
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/pip install -q "$TORCH_SPEC" 2>&1 | { grep -v "is ignored: it is neither" || true; }
.venv/bin/pip install -q -e ".[dev]" 2>&1 | { grep -v "is ignored: it is neither" || true; }
echo "$want" > "$stamp"
