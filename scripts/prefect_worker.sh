#!/usr/bin/env bash
# Run a process worker that executes the deployments' flow runs in this checkout.
# Extra arguments go to `prefect worker start` (e.g. --run-once).
set -euo pipefail
source "$(dirname "$0")/prefect_env.sh"
exec prefect worker start --pool "$HRM_WORK_POOL" "$@"
