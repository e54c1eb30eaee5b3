"""The evaluation report: one static HTML page with the metrics, the plots and a gallery of test puzzles.

Self-contained (inline CSS, images beside it, no scripts or outside resources) so it opens from a file, from
an MLflow artifact view or a CI artifact. Nothing in it depends on the clock: the same evaluation writes the
same bytes, so DVC does not see a change where there is none.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrm_pipeline.atomic import write_text
from hrm_pipeline.data.storage import DatasetMeta, atomic_dir
from hrm_pipeline.nested import flatten
from hrm_pipeline.render import PIXELS, render_item

REPORT_NAME = "report.html"
GALLERY_DIR = "gallery"
NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.metrics { border-collapse: collapse; font-size: 0.9em; }
table.metrics td { padding: 2px 12px 2px 0; border-bottom: 1px solid #eee; }
table.metrics td.value { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; } .right { color: #1a7f37; } .wrong { color: #cf222e; }
"""


@dataclass
class GalleryItem:
    """One test puzzle of the gallery; tokens exactly as in the dataset table."""

    name: str  # caption title, also names the picture
    inputs: np.ndarray  # (seq_len,)
    labels: np.ndarray  # (seq_len,)
    prediction: np.ndarray  # (seq_len,)
    correct: bool  # the evaluation's verdict (not recomputed here)
    steps: int  # ACT steps the answer took
    caption: str = ""  # extra text, e.g. "rating 7"


def write_report(
    out_dir: str | Path,
    items: Sequence[GalleryItem],
    plots: Sequence[str | Path],
    metrics: Mapping[str, Any],
    *,
    meta: DatasetMeta | Mapping[str, Any],
    title: str = "HRM evaluation",
) -> Path:
    """Write ``out_dir/report.html`` and its pictures (``out_dir/gallery/``); returns the HTML path.

    ``plots`` under ``out_dir`` are linked where they are; others are copied into the gallery folder.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not isinstance(meta, DatasetMeta):
        meta = DatasetMeta.from_json(dict(meta))
    figures: list[tuple[str, GalleryItem]] = []
    plot_links: list[str] = []
    # The gallery folder is built beside its target and swapped in whole (no stale or half-drawn pictures).
    with atomic_dir(out_dir / GALLERY_DIR) as tmp:
        for k, item in enumerate(items):
            name = f"{k + 1:02d}-{NAME_CHARS.sub('-', item.name).strip('-') or 'puzzle'}.png"
            render_item(tmp / name, meta, item.inputs, item.labels, item.prediction, title=_title(item))
            figures.append((f"{GALLERY_DIR}/{name}", item))
        for plot in map(Path, plots):
            if not plot.is_file():
                raise FileNotFoundError(f"report plot {plot} does not exist")
            try:
                plot_links.append(plot.resolve().relative_to(out_dir.resolve()).as_posix())
            except ValueError:  # outside the report folder: bring a copy along
                shutil.copyfile(plot, tmp / plot.name)
                plot_links.append(f"{GALLERY_DIR}/{plot.name}")
    page = _page(title, meta, metrics, plot_links, figures)
    return write_text(out_dir / REPORT_NAME, page)


def _title(item: GalleryItem) -> str:
    verdict = "right" if item.correct else "wrong"
    extra = f", {item.caption}" if item.caption else ""
    return f"{item.name}: {verdict}, {item.steps} ACT steps{extra}"


def _page(title, meta: DatasetMeta, metrics, plot_links, figures) -> str:
    esc = html.escape
    width, height = PIXELS
    right = [(src, it) for src, it in figures if it.correct]
    wrong = [(src, it) for src, it in figures if not it.correct]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Dataset <b>{esc(meta.dataset)}</b> ({esc(str(meta.seq_len))} tokens per puzzle, generator "
        f"{esc(meta.generator_version)}, seed {esc(str(meta.seed))}).</p>",
        "<h2>Metrics</h2>",
        _metrics_table(metrics),
    ]
    if plot_links:
        parts.append("<h2>Plots</h2>")
        parts += [
            f'<figure class="plot"><img src="{esc(src)}" alt="{esc(Path(src).stem)}"></figure>'
            for src in plot_links
        ]
    for heading, group, css in (("Solved", right, "right"), ("Not solved", wrong, "wrong")):
        parts.append(f"<h2>{heading} test puzzles ({len(group)})</h2>")
        if not group:
            parts.append("<p>none in the gallery</p>")
        for src, it in group:
            caption = (
                f'<span class="{css}">{css}</span> &middot; {esc(it.name)} &middot; {it.steps} ACT steps'
            )
            if it.caption:
                caption += f" &middot; {esc(it.caption)}"
            parts.append(
                f'<figure class="puzzle"><img src="{esc(src)}" width="{width}" height="{height}" '
                f'alt="{esc(_title(it))}"><figcaption>{caption}</figcaption></figure>'
            )
    parts.append(
        "<p><small>Panels: puzzle | label | prediction | difference (green right, red wrong, orange a path "
        "cell the prediction missed).</small></p></body></html>"
    )
    return "\n".join(parts) + "\n"


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    rows = [
        f'<tr><td>{html.escape(k)}</td><td class="value">{html.escape(_fmt(v))}</td></tr>'
        for k, v in flatten(metrics).items()
    ]
    return '<table class="metrics">' + "".join(rows) + "</table>" if rows else "<p>no metrics</p>"


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return "n/a" if np.isnan(value) else f"{float(value):.4g}"
    if isinstance(value, (list, tuple)):
        return json.dumps(value, default=str)
    return str(value)
