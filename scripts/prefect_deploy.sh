#!/usr/bin/env bash
# Create the process work pool (if missing) and deploy every flow of prefect.yaml with its schedule.
# Needs the server of scripts/prefect_server.sh. Extra arguments go to `prefect deploy` (e.g. --name train).
set -euo pipefail
source "$(dirname "$0")/prefect_env.sh"
if ! prefect work-pool inspect "$HRM_WORK_POOL" >/dev/null 2>&1; then
    prefect work-pool create "$HRM_WORK_POOL" --type process
fi
if [ $# -eq 0 ]; then set -- --all; fi
exec prefect --no-prompt deploy "$@"
