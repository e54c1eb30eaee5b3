"""No import runs back up the layers (docs/ARCHITECTURE.md): checked on the modules as Python loads them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# module -> packages it must never load, directly or through anything it imports
RULES = {
    "hrm_pipeline.inference": ("hrm_pipeline.train", "hrm_pipeline.config", "hrm_pipeline.stages"),
    "hrm_pipeline.serving": ("hrm_pipeline.train", "hrm_pipeline.config", "hrm_pipeline.stages"),
    "hrm_pipeline.evaluation.run": ("hrm_pipeline.train", "hrm_pipeline.config", "hrm_pipeline.stages"),
    "hrm_pipeline.report": ("hrm_pipeline.evaluation", "hrm_pipeline.train", "hrm_pipeline.tracking"),
    "hrm_pipeline.puzzles": ("hrm_pipeline.evaluation", "hrm_pipeline.train", "hrm_pipeline.tracking"),
    "hrm_pipeline.tracking.registry": (
        "hrm_pipeline.serving",
        "hrm_pipeline.evaluation",
        "hrm_pipeline.train",
        "hrm_pipeline.config",
        "hrm_pipeline.stages",
    ),
    "hrm_pipeline.tracking.hooks": ("hrm_pipeline.evaluation", "hrm_pipeline.serving", "hrm_pipeline.stages"),
    "hrm_pipeline.data.storage": ("hrm_pipeline.train", "hrm_pipeline.evaluation", "hrm_pipeline.tracking"),
}


@pytest.mark.parametrize("module", sorted(RULES))
def test_module_loads_nothing_from_the_layers_above_it(module):
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    above = [m for m in loaded if m.startswith(RULES[module])]
    assert above == [], f"{module} loads {above}"
