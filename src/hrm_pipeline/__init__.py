"""hrm-pipeline: reproducible data-to-model pipeline for the Hierarchical Reasoning Model."""

__version__ = "0.1.0"
