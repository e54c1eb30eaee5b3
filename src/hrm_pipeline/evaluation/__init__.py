"""Evaluating a trained model: the paper's metrics, ARC voting, inference-time scaling, participation ratio.

``from hrm_pipeline.evaluation.run import run_evaluation`` runs it all; this package root only exports the
config, so that ``hrm_pipeline.config`` can compose it without importing the work (and itself) back.
"""

from hrm_pipeline.evaluation.config import EvaluateConfig

__all__ = ["EvaluateConfig"]
