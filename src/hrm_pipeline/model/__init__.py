"""HRM in pure PyTorch (torch + the standard library only): model, losses and optimisers.

from hrm_pipeline.model import HRM, HRMConfig, compute_loss, build_optimizers
"""

from hrm_pipeline.model.attention import flash_available
from hrm_pipeline.model.hrm import HRM, Carry, HRMConfig
from hrm_pipeline.model.losses import (
    compute_loss,
    log_stablemax,
    softmax_cross_entropy,
    stablemax_cross_entropy,
)
from hrm_pipeline.model.optim import AdamAtan2, SparseSignSGD, build_optimizers
from hrm_pipeline.model.sparse_embedding import PuzzleEmbedding

__all__ = [
    "HRM",
    "AdamAtan2",
    "Carry",
    "HRMConfig",
    "PuzzleEmbedding",
    "SparseSignSGD",
    "build_optimizers",
    "compute_loss",
    "flash_available",
    "log_stablemax",
    "softmax_cross_entropy",
    "stablemax_cross_entropy",
]
