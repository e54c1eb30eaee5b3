"""MLflow tracking of training runs, the model registry and the promotion gate.

- ``hooks``: what the train and evaluate stages call (:func:`track_training`, :func:`log_evaluation`).
- ``registry``: :func:`register`, :func:`promote` (with rollback), :func:`champion_uri`.
- ``promotion``: the gate as a pure decision; ``curves``: the learning-curve CSV files.
- ``mlflow_run``: the run of a training folder, buffering through store outages.

Only the config dataclasses are imported here: ``hrm_pipeline.config`` needs them, and importing MLflow for
every `hrm` command would cost seconds.
"""

from hrm_pipeline.tracking.config import PROMOTION_MODES, RegistryConfig, TrackingConfig

__all__ = ["PROMOTION_MODES", "RegistryConfig", "TrackingConfig"]
