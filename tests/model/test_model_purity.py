"""The model package stands alone: importing it pulls in none of the pipeline's heavy dependencies."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("prefect", "mlflow", "dvc", "polars", "pandera", "omegaconf", "numba", "hrm_pipeline.data")


def test_importing_the_model_package_loads_no_pipeline_dependencies() -> None:
    code = (
        "import sys, hrm_pipeline.model\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} or m in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"hrm_pipeline.model imported: {result.stdout.strip()}"
