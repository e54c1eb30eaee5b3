#!/usr/bin/env bash
# Run the test suite (installs what it needs first). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` to skip the slow end-to-end tests locally.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The HTML report test renders in headless Chromium (Debian's packages); install them where we may, else that
# one test skips with its reason (fails under CI=true, see tests/conftest.py).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing chromium + chromium-driver for the report test (apt) ..."
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
            >/dev/null 2>&1 || echo "warning: could not install chromium; the report test will skip (fail in CI)"
    fi
fi
export DVC_NO_ANALYTICS=1 DO_NOT_TRACK=true PREFECT_SERVER_ANALYTICS_ENABLED=false
# Two pytest-xdist workers, one test file each at a time (a file's module fixtures are built once): most tests
# wait on subprocesses, servers and single-threaded torch, so 2 workers on 2 cores took the whole suite from
# ~17 to ~9 min. HRM_TEST_WORKERS=0 runs in one process (e.g. to debug with -x --pdb).
exec .venv/bin/python -m pytest -n "${HRM_TEST_WORKERS:-2}" --dist loadfile "$@"
