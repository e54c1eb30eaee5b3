"""Sudoku-Extreme tables: config, build (generate or import CSV), augmentation, schema and leakage key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandera.polars as pa
import polars as pl
from tqdm import tqdm

from hrm_pipeline.data.schema import REPORT_ROWS, ValidationFailed, row_check, table_schema
from hrm_pipeline.data.storage import DatasetMeta, DatasetTables, token_array
from hrm_pipeline.data.sudoku.api import analyse, parse
from hrm_pipeline.data.sudoku.generate import (
    TOP_DOWN_REACH,
    MixGenerator,
    Puzzle,
    SearchParams,
    bucket_of,
    orbit_bucket,
)
from hrm_pipeline.data.sudoku.shards import Stratum, generate_sharded
from hrm_pipeline.data.sudoku.solver import Shape
from hrm_pipeline.data.sudoku.symmetry import apply_transform, canonical_key, random_transform
from hrm_pipeline.data.sudoku.variety import near_duplicate_pairs

GENERATOR_VERSION = "sudoku-1"
BLANK_TOKEN = 1  # token = digit + 1; 0 is pad (unused)
COARSE_EDGES = [0, 1, 3, 11, 51]  # the official report buckets (guesses)

# Rating mix: the official test buckets 0 / 1-2 / 3-10 / 11-50 / >=51 = 14 / 10 / 14 / 51 / 11 %, with
# 11-50 split in the proportions of the official train sample (calibration data), so that ratings do not pile
# up at 11 and the mean comes out near the official ~22. The >= 51 tail is one bucket: climbing to 70-100+
# guesses from scratch costs minutes per puzzle (see the report).
DEFAULT_EDGES = [0, 1, 3, 11, 16, 21, 26, 31, 41, 51]
DEFAULT_SHARES = [0.14, 0.10, 0.14, 0.100, 0.074, 0.089, 0.079, 0.102, 0.066, 0.11]


@dataclass
class SudokuConfig:
    seed: int = 0
    box_rows: int = 3
    box_cols: int = 3
    train_size: int = 100  # puzzles (groups); 0 with train_csv = all rows of the file
    test_size: int = 100
    num_aug: int = 2  # augmented variants per training puzzle besides the original (paper: 1000)
    train_csv: str = ""  # official layout source,question,answer,rating (gz or plain); "" = generate
    test_csv: str = ""
    bucket_edges: list[int] = field(default_factory=lambda: list(DEFAULT_EDGES))
    bucket_shares: list[float] = field(default_factory=lambda: list(DEFAULT_SHARES))
    min_givens: int = 17
    max_givens: int = 35
    max_steps: int = 1000
    # Generated puzzles that may share one solution grid; 0 = no cap. Generated train puzzles never have a
    # test puzzle's solution grid either way.
    max_per_solution: int = 0
    # No two puzzles (of a split, or of train and test) share a solution grid up to symmetry; validate checks
    # it. Off for 6x6: it has only 49 grids up to symmetry, too few for a split of thousands.
    distinct_grid_orbits: bool = False
    # Buckets by the orbit rating (mean over 16 images of the canonical form) instead of the rating as stored
    # (which depends on the orientation the puzzle happens to be stored in); puzzles are stored as random
    # images. The `rating` column stays the official as-stored figure.
    bucket_by_orbit: bool = False
    # No two puzzles within this many clues of each other up to symmetry (see sudoku/variety.py); 0 = off.
    near_clues: int = 0
    # Every generated puzzle minimal (no clue can go without losing uniqueness), as every official
    # Sudoku-Extreme puzzle that needs a guess is (981 of the 1000-puzzle train sample are minimal).
    minimal: bool = False
    # > 0: local-search lineages start from top-down minimal puzzles of at least this many clues (0:
    # bottom-up, ~23.6 clues); a clue swap keeps the count, so this moves the givens histogram.
    start_givens: int = 0
    # Generation in shards of this many puzzles, each from its own child seed (0 = one stream): the output
    # depends on seed and shard size only, so `workers` processes give the same data as one.
    shard_size: int = 0
    workers: int = 1  # processes generating shards (needs shard_size > 0); not part of the data
    # Joint target of givens and buckets: givens count ("26") -> count per bucket (one per bucket_shares
    # entry; relative weights, e.g. the official sample's counts). Each givens count is generated as its own
    # stratum with seeds kept at that count (needs shard_size > 0); the bucket totals must agree with
    # bucket_shares.
    # Lineages start at min(givens, 26) clues (start_givens does not apply); 9x9 counts 22-28 and 33-35 are
    # measured to fill, fewer clues are rare in any generator. Keys are single counts, not ranges: `dvc exp
    # run -S` (Hydra's grammar) takes a key of digits, not "33-35". {} = one stratum at bucket_shares.
    givens_mix: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.givens_mix:
            return
        if self.shard_size <= 0:
            raise ValueError("sudoku.givens_mix needs sudoku.shard_size > 0 (each givens count is sharded)")
        counts = [mix_givens(key) for key in self.givens_mix]
        if len(set(counts)) != len(counts):
            raise ValueError("sudoku.givens_mix: a givens count appears twice")
        outside = [g for g in counts if not self.min_givens <= g <= self.max_givens]
        if outside:
            raise ValueError(
                f"sudoku.givens_mix: {outside[0]} givens is outside min_givens..max_givens "
                f"({self.min_givens}..{self.max_givens})"
            )
        k = len(self.bucket_shares)
        rows = [list(r) for r in self.givens_mix.values()]
        if any(len(r) != k for r in rows) or np.min(rows) < 0 or np.sum(rows) <= 0:
            raise ValueError(
                f"sudoku.givens_mix: every givens count needs {k} non-negative weights (one per bucket), "
                "not all zero"
            )
        totals = np.sum(rows, axis=0) / np.sum(rows)
        shares = np.asarray(self.bucket_shares, dtype=float) / sum(self.bucket_shares)
        worst = int(np.argmax(np.abs(totals - shares)))
        if abs(totals[worst] - shares[worst]) > 0.01:
            raise ValueError(
                f"sudoku.givens_mix: bucket {worst} totals {totals[worst]:.3f} of the mix, "
                f"bucket_shares says {shares[worst]:.3f}"
            )


def mix_givens(key: str) -> int:
    """A ``givens_mix`` key as its givens count; a one-line error for anything but digits."""
    if not str(key).isdigit():
        raise ValueError(f'sudoku.givens_mix: key {key!r} is not a givens count (digits, e.g. "26")')
    return int(key)


@dataclass
class _Split:
    puzzles: np.ndarray  # (N, n*n) digits
    solutions: np.ndarray
    ratings: np.ndarray
    sources: list[str]
    orbit: np.ndarray | None = None  # orbit ratings, where the generator computed them (bucket_by_orbit)


def _shape(cfg: SudokuConfig) -> Shape:
    return Shape(cfg.box_rows, cfg.box_cols)


def read_csv(path: str, shape: Shape) -> _Split:
    df = pl.read_csv(path, schema_overrides={"question": pl.Utf8, "answer": pl.Utf8, "source": pl.Utf8})
    q = np.stack([parse(s, shape) for s in df["question"].to_list()]) if df.height else np.zeros((0, 0))
    a = np.stack([parse(s, shape) for s in df["answer"].to_list()]) if df.height else np.zeros((0, 0))
    if "rating" in df.columns:
        r = df["rating"].cast(pl.Int64).to_numpy()
    else:
        r = np.array([analyse(g, shape, limit=1).rating for g in q], dtype=np.int64)
    src = df["source"].to_list() if "source" in df.columns else [path] * df.height
    return _Split(q, a, r, src)


def _select(split: _Split, keep: np.ndarray) -> _Split:
    return _Split(
        split.puzzles[keep], split.solutions[keep], split.ratings[keep], [split.sources[i] for i in keep]
    )


def _dedupe(
    split: _Split, shape: Shape, banned: set[str], progress: bool, label: str
) -> tuple[_Split, set[str]]:
    """Drop puzzles equivalent to an earlier one or to one in ``banned``; return the kept keys too."""
    keys: set[str] = set()
    keep = []
    for i, g in enumerate(tqdm(split.puzzles, desc=f"canonical forms ({label})", disable=not progress)):
        k = canonical_key(g, shape)
        if k not in keys and k not in banned:
            keys.add(k)
            keep.append(i)
    return _select(split, np.array(keep, dtype=np.int64)), keys


def _generate(cfg: SudokuConfig, shape: Shape, count: int, gen: MixGenerator, progress: bool) -> _Split:
    puzzles = list(
        tqdm(
            gen.generate(count, cfg.bucket_shares),
            total=count,
            desc="generating sudoku",
            disable=not progress,
        )
    )
    return _split_of(puzzles, shape)


def _split_of(puzzles: list[Puzzle], shape: Shape) -> _Split:
    n2 = shape.cells
    return _Split(
        np.array([p.puzzle for p in puzzles], dtype=np.int64).reshape(-1, n2),
        np.array([p.solution for p in puzzles], dtype=np.int64).reshape(-1, n2),
        np.array([p.rating for p in puzzles], dtype=np.int64),
        ["generated"] * len(puzzles),
        np.array([p.orbit for p in puzzles], dtype=np.float64),
    )


def _rows(
    split: _Split, shape: Shape, num_aug: int, rng: np.random.Generator, progress: bool
) -> pl.DataFrame:
    """One row per (puzzle, variant); variant 0 is the puzzle as stored, the others random transforms."""
    n2 = shape.cells
    per = 1 + num_aug
    count = len(split.ratings)
    inputs = np.empty((count * per, n2), dtype=np.uint8)
    labels = np.empty((count * per, n2), dtype=np.uint8)
    for i in tqdm(range(count), desc="augmenting", disable=not progress or num_aug == 0):
        inputs[i * per] = split.puzzles[i] + BLANK_TOKEN
        labels[i * per] = split.solutions[i] + BLANK_TOKEN
        for v in range(1, per):
            t = random_transform(shape, rng)
            inputs[i * per + v] = apply_transform(split.puzzles[i], t, shape) + BLANK_TOKEN
            labels[i * per + v] = apply_transform(split.solutions[i], t, shape) + BLANK_TOKEN
    group = np.repeat(np.arange(count, dtype=np.int64), per)
    return pl.DataFrame(
        {
            "group_id": group,
            "puzzle_id": np.arange(count * per, dtype=np.int64),
            "example_id": np.arange(count * per, dtype=np.int64),
            "puzzle_identifier": np.zeros(count * per, dtype=np.int32),  # sudoku uses no puzzle embedding
            "inputs": token_array(inputs, n2),
            "labels": token_array(labels, n2),
            "rating": np.repeat(split.ratings, per).astype(np.int32),  # of the puzzle as stored (variant 0)
            "source": np.repeat(np.array(split.sources, dtype=object), per).astype(str),
            "augmented": np.tile(np.arange(per) > 0, count),
        }
    )


def search_params(cfg: SudokuConfig) -> SearchParams:
    """The generator's search settings as the dataset config gives them (the bench times the same)."""
    return SearchParams(
        min_givens=cfg.min_givens,
        max_givens=cfg.max_givens,
        max_steps=cfg.max_steps,
        max_per_solution=cfg.max_per_solution,
        grid_orbits=cfg.distinct_grid_orbits,
        orbit_buckets=cfg.bucket_by_orbit,
        near_clues=cfg.near_clues,
        minimal=cfg.minimal,
        start_givens=cfg.start_givens,
    )


def strata(cfg: SudokuConfig, params: SearchParams) -> list[Stratum] | None:
    """The givens mix as strata: per givens count, seeds kept at it, lineages started there (top-down minimal
    puzzles reach ~26 clues; a count above is reached by clues added to them); None without a mix."""
    if not cfg.givens_mix:
        return None
    out = []
    for key, row in cfg.givens_mix.items():
        g = mix_givens(key)
        at_g = replace(
            params, min_givens=g, max_givens=g, givens_pool=True, start_givens=min(g, TOP_DOWN_REACH)
        )
        out.append(Stratum(at_g, [float(w) for w in row], float(sum(row))))
    return out


def build_tables(cfg: SudokuConfig, *, progress: bool = True) -> DatasetTables:
    """Train and test tables: imported from CSV where configured, else generated; pure and seeded."""
    shape = _shape(cfg)
    rng = np.random.default_rng(cfg.seed)
    test_rng, train_rng, sub_rng, aug_rng = rng.spawn(4)
    params = search_params(cfg)
    # separate seed pools: no train puzzle is a local-search neighbour of a test puzzle
    gen = MixGenerator(shape, test_rng, edges=list(cfg.bucket_edges), params=params)

    def sharded(rng: np.random.Generator, count: int, seen: set[str], avoid: set[bytes]):
        out = generate_sharded(
            shape, rng, count, list(cfg.bucket_shares), list(cfg.bucket_edges), params,
            cfg.shard_size, cfg.workers, seen, avoid, strata(cfg, params),
        )  # fmt: skip
        return _split_of(out.puzzles, shape), out

    # test first: it is never changed to make room for train
    test_grids: set[bytes] | None = None
    if cfg.test_csv:
        test, test_keys = _dedupe(read_csv(cfg.test_csv, shape), shape, set(), progress, "test")
    elif cfg.shard_size:
        test, out = sharded(test_rng, cfg.test_size, set(), set())
        test_keys, test_grids = out.keys, out.grid_keys
    else:
        test = _generate(cfg, shape, cfg.test_size, gen, progress)
        test_keys = set(gen.seen)
    if cfg.train_csv:
        train = read_csv(cfg.train_csv, shape)
        if 0 < cfg.train_size < len(train.ratings):
            train = _select(train, np.sort(sub_rng.choice(len(train.ratings), cfg.train_size, replace=False)))
        train, _ = _dedupe(train, shape, test_keys, progress, "train")
    else:
        # generated train puzzles avoid every test orbit, and every test answer grid
        if test_grids is None:
            test_grids = {gen.grid_key(s) for s in test.solutions}
        if cfg.shard_size:
            train, _ = sharded(train_rng, cfg.train_size, set(test_keys), test_grids)
        else:
            train_gen = MixGenerator(
                shape,
                train_rng,
                edges=list(cfg.bucket_edges),
                params=params,
                seen=set(test_keys),
                avoid_solutions=test_grids,
            )
            train = _generate(cfg, shape, cfg.train_size, train_gen, progress)

    splits = {
        "train": _rows(train, shape, cfg.num_aug, aug_rng, progress),
        "test": _rows(test, shape, 0, aug_rng, progress),
    }
    hist = {
        name: np.bincount([bucket_of(int(r), COARSE_EDGES) for r in s.ratings], minlength=5).tolist()
        for name, s in (("train", train), ("test", test))
    }
    extra: dict = {"near_clues": cfg.near_clues} if cfg.near_clues else {}
    orbits = {
        n: s.orbit for n, s in (("train", train), ("test", test)) if s.orbit is not None and len(s.orbit)
    }
    if cfg.bucket_by_orbit:  # what the generator bucketed by, per generated split
        extra["orbit_bucket_counts"] = {
            name: np.bincount([orbit_bucket(o, COARSE_EDGES) for o in v], minlength=5).tolist()
            for name, v in orbits.items()
        }
        extra["mean_orbit_rating"] = {name: float(np.mean(v)) for name, v in orbits.items()}
    meta = DatasetMeta(
        dataset="sudoku",
        vocab_size=shape.n + 2,
        seq_len=shape.cells,
        num_puzzle_identifiers=1,
        generator_version=GENERATOR_VERSION,
        seed=cfg.seed,
        # workers never change the data; an empty givens_mix is the data of before the key existed
        params={k: v for k, v in asdict(cfg).items() if k != "workers" and (v or k != "givens_mix")},
        extra=extra
        | {
            "box_rows": shape.box_rows,
            "box_cols": shape.box_cols,
            "min_givens": cfg.min_givens,
            "distinct_grid_orbits": cfg.distinct_grid_orbits,
            "rating_buckets": COARSE_EDGES,
            "rating_bucket_counts": hist,
            "mean_rating": {
                "train": float(np.mean(train.ratings)) if len(train.ratings) else 0.0,
                "test": float(np.mean(test.ratings)) if len(test.ratings) else 0.0,
            },
        },
    )
    return DatasetTables(splits=splits, meta=meta)


# ---- schema ---------------------------------------------------------------------------------------------


def _digits(df: pl.DataFrame, column: str) -> np.ndarray:
    return df[column].to_numpy().astype(np.int64) - BLANK_TOKEN  # (N, n*n), 0 = blank


def _shape_of(meta: DatasetMeta) -> Shape:
    return Shape(int(meta.extra.get("box_rows", 3)), int(meta.extra.get("box_cols", 3)))


def valid_grids(digits: np.ndarray, shape: Shape) -> np.ndarray:
    """Per row: every row, column and box holds each digit 1..n exactly once."""
    n, br, bc = shape.n, shape.box_rows, shape.box_cols
    if digits.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    in_range = ((digits >= 1) & (digits <= n)).all(axis=1)
    bits = np.where((digits >= 1) & (digits <= n), 1 << np.clip(digits - 1, 0, n - 1), 0).reshape(-1, n, n)
    full = (1 << n) - 1
    rows = np.bitwise_or.reduce(bits, axis=2)
    cols = np.bitwise_or.reduce(bits, axis=1)
    boxes = np.bitwise_or.reduce(
        bits.reshape(-1, bc, br, br, bc).transpose(0, 1, 3, 2, 4).reshape(-1, n, n), axis=2
    )
    # n cells covering all n digit bits means each digit exactly once
    return in_range & (rows == full).all(1) & (cols == full).all(1) & (boxes == full).all(1)


def schema(meta: DatasetMeta) -> pa.DataFrameSchema:
    shape = _shape_of(meta)
    min_givens = int(meta.extra.get("min_givens", 17))

    def labels_valid(df: pl.DataFrame) -> np.ndarray:
        return valid_grids(_digits(df, "labels"), shape)

    def givens_agree(df: pl.DataFrame) -> np.ndarray:
        x, y = _digits(df, "inputs"), _digits(df, "labels")
        return ((x == 0) | (x == y)).all(axis=1) & (x >= 0).all(axis=1)

    def enough_givens(df: pl.DataFrame) -> np.ndarray:
        return (_digits(df, "inputs") > 0).sum(axis=1) >= min_givens

    return table_schema(
        meta,
        columns={
            "rating": pa.Column(pl.Int32, pa.Check.ge(0)),
            "source": pa.Column(pl.Utf8),
            "augmented": pa.Column(pl.Boolean),
        },
        checks=[
            row_check("labels are a complete valid grid", labels_valid),
            row_check("labels agree with the givens", givens_agree),
            row_check(f"inputs have at least {min_givens} givens", enough_givens),
        ],
    )


def leakage_key(df: pl.DataFrame, shape: Shape | None = None) -> pl.Series:
    """Per row, the canonical form of its puzzle (equal iff the puzzles are equivalent).

    Rows of one group are computed once from the group's first row: its variants are images of it under
    the group action (by construction, and the tests check that the canonical form is invariant).
    """
    if shape is None:
        n = int(round(df["inputs"].dtype.size ** 0.5)) if df.height else 9
        shape = Shape(3, 3) if n == 9 else Shape(2, 3) if n == 6 else Shape(2, 2) if n == 4 else Shape(1, n)
    digits = _digits(df, "inputs")
    groups = df["group_id"].to_numpy()
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    keys = np.array([canonical_key(digits[i], shape) for i in first], dtype=object)
    return pl.Series("leakage_key", keys[inverse].astype(str) if len(first) else [], dtype=pl.Utf8)


def check_variety(meta: DatasetMeta, splits: dict[str, pl.DataFrame]) -> None:
    """With ``distinct_grid_orbits``: no two groups of train and test share a solution grid up to symmetry.
    With ``near_clues`` k > 0: no two groups' puzzles are near-duplicates (each within k clues of the other
    after the best symmetry alignment, see variety.py)."""
    _check_near_duplicates(meta, splits)
    if not meta.extra.get("distinct_grid_orbits"):
        return
    shape = _shape_of(meta)
    owner: dict[str, tuple[str, int]] = {}
    clashes = []
    for name in ("train", "test"):
        df = splits[name]
        groups = df["group_id"].to_numpy()
        _, first = np.unique(groups, return_index=True)
        labels = _digits(df, "labels")
        for i in first:
            key = canonical_key(labels[i], shape)
            if key in owner:
                clashes.append(f"      {name} group {groups[i]} shares a grid orbit with {owner[key]}")
            else:
                owner[key] = (name, int(groups[i]))
    if clashes:
        lines = [f"sudoku: {len(clashes)} group(s) share a solution grid up to symmetry with another"]
        raise ValidationFailed("\n".join(lines + clashes[:REPORT_ROWS]))


def _check_near_duplicates(meta: DatasetMeta, splits: dict[str, pl.DataFrame]) -> None:
    k = int(meta.extra.get("near_clues", 0))
    if not k:
        return
    owners, puzzles = [], []
    for name in ("train", "test"):
        df = splits[name]
        groups = df["group_id"].to_numpy()
        _, first = np.unique(groups, return_index=True)
        owners += [(name, int(groups[i])) for i in first]
        puzzles.append(_digits(df, "inputs")[first])
    pairs = near_duplicate_pairs(np.concatenate(puzzles), _shape_of(meta), k)
    if pairs:
        lines = [f"sudoku: {len(pairs)} pair(s) of near-duplicate puzzles (within {k} clues up to symmetry)"]
        lines += [f"      {owners[i]} and {owners[j]}" for i, j in pairs[:REPORT_ROWS]]
        raise ValidationFailed("\n".join(lines))
