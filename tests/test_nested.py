"""The one flattener: dotted names for every leaf; the numeric view keeps only finite numbers."""

import math

from hrm_pipeline.nested import finite_numbers, flatten


def test_flatten_names_every_leaf_in_order():
    nested = {"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2], "f": None}
    assert list(flatten(nested).items()) == [("a.b", 1), ("a.c.d", "x"), ("e", [1, 2]), ("f", None)]
    assert flatten({"a": {"b": 1}}, "test/") == {"test/a.b": 1}


def test_finite_numbers_drops_text_bools_lists_and_nan():
    nested = {
        "exact": 0.5,
        "n": 3,
        "ok": True,
        "name": "x",
        "nan": math.nan,
        "inf": math.inf,
        "arc": {"k": [1]},
    }
    assert finite_numbers(nested) == {"exact": 0.5, "n": 3.0}
    assert finite_numbers({"m": {"x": 1}}, "test/") == {"test/m.x": 1.0}
