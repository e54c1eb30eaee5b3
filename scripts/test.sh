#!/usr/bin/env bash
# Run the test suite (installs what it needs first). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` to skip the slow end-to-end tests locally.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DVC_NO_ANALYTICS=1 DO_NOT_TRACK=true PREFECT_SERVER_ANALYTICS_ENABLED=false
exec .venv/bin/python -m pytest "$@"
