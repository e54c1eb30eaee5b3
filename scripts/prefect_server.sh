#!/usr/bin/env bash
# Start the local Prefect server on 127.0.0.1:$HRM_PREFECT_PORT (default 4200); stays in the foreground.
set -euo pipefail
source "$(dirname "$0")/prefect_env.sh"
bash scripts/setup.sh
exec prefect server start --host 127.0.0.1 --port "$HRM_PREFECT_PORT"
