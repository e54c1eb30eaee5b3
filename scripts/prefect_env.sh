# Sourced by the scripts/prefect_*.sh: one local Prefect server on 127.0.0.1, its SQLite store in .prefect/.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export HRM_PREFECT_PORT=${HRM_PREFECT_PORT:-4200}
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect}
export PREFECT_API_URL=http://127.0.0.1:$HRM_PREFECT_PORT/api
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=true DVC_NO_ANALYTICS=1
export HRM_WORKSPACE=$PWD  # where deployments run (prefect.yaml pull step)
export PATH="$PWD/.venv/bin:$PATH"
HRM_WORK_POOL=hrm-process
