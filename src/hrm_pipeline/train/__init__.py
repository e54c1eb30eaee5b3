"""Training: the deep-supervision loop, its config, sampler, schedule, checkpoints and DDP helpers.

from hrm_pipeline.train import TrainConfig, train, evaluate
"""

from hrm_pipeline.train.config import TrainConfig
from hrm_pipeline.train.evaluate import EvalResult, evaluate
from hrm_pipeline.train.loop import MetricsCallback, TrainResult, build_model, total_steps, train
from hrm_pipeline.train.sampler import EpochSampler, make_batch
from hrm_pipeline.train.schedule import lr_factor

__all__ = [
    "EpochSampler",
    "EvalResult",
    "MetricsCallback",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "evaluate",
    "lr_factor",
    "make_batch",
    "total_steps",
    "train",
]
