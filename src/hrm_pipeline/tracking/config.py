"""The ``tracking`` and ``registry`` sections of ``params.yaml``: where MLflow is, how models are promoted."""

from __future__ import annotations

from dataclasses import dataclass

PROMOTION_MODES = ("disabled", "dry-run", "enabled")


@dataclass
class TrackingConfig:
    # Local by default so nothing must be started; the env var MLFLOW_TRACKING_URI (a server) wins over it.
    uri: str = "sqlite:///.mlflow/mlflow.db"
    artifact_dir: str = ".mlflow/artifacts"  # artifact root of experiments created in the local store
    experiment: str = "hrm-{dataset}"  # {dataset} = pipeline.dataset
    pending_dir: str = ".mlflow/pending"  # metrics waiting out a store outage, one file per run
    # Outage handling: MLflow's client retries for minutes by default; training must not stall that long.
    request_timeout_s: int = 10
    request_retries: int = 1
    retry_after_s: float = 30.0  # after a failed request, buffer locally this long before trying again
    flush_interval_s: float = 10.0  # batch per-step metrics into one request at most this often

    def __post_init__(self) -> None:
        if self.request_timeout_s <= 0 or self.request_retries < 0:
            raise ValueError("tracking.request_timeout_s must be > 0 and tracking.request_retries >= 0")


@dataclass
class RegistryConfig:
    model_name: str = "hrm-{dataset}"  # registered model; {dataset} = pipeline.dataset
    gate_metric: str = "exact_accuracy"  # a key of reports/metrics.json (dotted path for nested keys)
    higher_is_better: bool = True
    margin: float = 0.0  # the challenger must beat the champion by at least this much (and by more than 0)
    mode: str = "enabled"  # disabled | dry-run | enabled

    def __post_init__(self) -> None:
        if self.mode not in PROMOTION_MODES:
            raise ValueError(f"registry.mode must be one of {', '.join(PROMOTION_MODES)}, got {self.mode!r}")
        if self.margin < 0:
            raise ValueError(f"registry.margin must be >= 0, got {self.margin}")
