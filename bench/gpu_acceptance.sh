#!/usr/bin/env bash
# GPU acceptance in one device call (docs/GPU.md). The device machine has no internet and no project install:
# its python3 holds torch, numpy, numba, tqdm and pytest, but not polars / pandera (imported by the data and
# training code), so those travel as wheels in .gpu_wheels (carried, git-ignored via .git/info/exclude).
#
#   bash bench/gpu_acceptance.sh --fetch-wheels   # HERE, once (PyPI reachable): fills .gpu_wheels (~58 MB)
#   bash bench/gpu_acceptance.sh [ARGS...]        # THERE: install the wheels to /tmp, run the script to $OUT
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu_wheels
SITE=/tmp/hrm_gpu_site
# What the device image lacks, at the versions of this project's environment (python3 there is 3.12).
NEEDED="polars polars-runtime-32 pandera pydantic pydantic-core typing-inspection annotated-types typeguard
typing-extensions"

if [ "${1:-}" = "--fetch-wheels" ]; then
    PY=${PYTHON:-python3}
    specs=$("$PY" - $NEEDED <<'EOF'
import sys
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))
EOF
) || { echo "gpu_acceptance.sh: $PY lacks one of: $NEEDED" >&2; exit 2; }
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    # shellcheck disable=SC2086
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WHEELS" $specs || exit 1
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx "/$WHEELS/" "$exclude" 2>/dev/null || echo "/$WHEELS/" >>"$exclude"
    du -sh "$WHEELS"
    exit 0
fi

if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        "$WHEELS"/*.whl || echo "gpu_acceptance.sh: wheel install failed; data/training sections will fail" >&2
else
    echo "gpu_acceptance.sh: no $WHEELS (run --fetch-wheels where PyPI is reachable, carry it)" >&2
fi
export PYTHONPATH="$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export NUMBA_CACHE_DIR=/tmp/hrm_numba_cache
exec python3 bench/gpu_acceptance.py --out "${OUT:-bench/results}" "$@"
