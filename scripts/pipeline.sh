#!/usr/bin/env bash
# Run the main job: the CPU default profile of the whole pipeline under `dvc repro` (every dataset, then one
# model per family of pipeline.families; `bash scripts/pipeline.sh train@maze` runs one stage)
# (installs what it needs first). Extra arguments go to `dvc repro`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DVC_NO_ANALYTICS=1 DO_NOT_TRACK=true PREFECT_SERVER_ANALYTICS_ENABLED=false
export PATH="$PWD/.venv/bin:$PATH"  # the stages call `hrm`
dvc repro "$@"
# Every version goes to the DVC remote (.dvc/config; a folder by default), so `hrm data rollback REV` can
# restore it even after the local cache is gone.
dvc push
