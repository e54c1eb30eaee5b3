"""Nested mappings as flat dotted names: the one flattener of metrics, report tables and MLflow params."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [2]} -> {"a.b": 1, "c": [2]}: every leaf, in order, under its dotted name."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def finite_numbers(nested: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numeric leaves of ``nested`` as floats (bools, text, lists and NaN left out): what MLflow
    metrics, registry tags and promotion gates take."""
    return {
        name: float(value)
        for name, value in flatten(nested, prefix).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
