"""Pictures of every family have one fixed size; the HTML report links its gallery and plots, and headless
Chromium actually renders every image in it."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from hrm_pipeline.data.arc.encode import encode as arc_encode
from hrm_pipeline.data.maze.grid import encode as maze_encode
from hrm_pipeline.data.maze.grid import label_tokens
from hrm_pipeline.data.storage import DatasetMeta
from hrm_pipeline.render import PIXELS, render_item
from hrm_pipeline.report import GalleryItem, write_report

SOLUTION = np.array([int(c) for c in "123456456123231564564231312645645312"]) + 1
SUDOKU = DatasetMeta("sudoku", 8, 36, 1, "test", 0, extra={"box_rows": 2, "box_cols": 3})


def sudoku_item(name: str, correct: bool) -> GalleryItem:
    puzzle = SOLUTION.copy()
    puzzle[::3] = 1  # blanks
    pred = SOLUTION.copy()
    if not correct:
        pred[3] = SOLUTION[4]
    return GalleryItem(name, puzzle, SOLUTION, pred, correct, steps=3, caption="rating 2")


def family_cases(maze_rows):
    maze = maze_encode("".join(maze_rows))[0]
    labels, _ = label_tokens(maze)
    arc_in = arc_encode(np.array([[1, 2], [3, 4]]))
    arc_out = arc_encode(np.array([[4, 3, 2]]))
    return {
        "sudoku": (SUDOKU, SOLUTION * (np.arange(36) % 2), SOLUTION, SOLUTION),
        "maze": (DatasetMeta("maze", 6, 100, 1, "test", 0), maze, labels[0], maze),
        "arc": (DatasetMeta("arc", 12, 900, 1, "test", 0), arc_in, arc_out, arc_in),
    }


@pytest.mark.parametrize("family", ["sudoku", "maze", "arc"])
def test_every_family_draws_one_fixed_size_picture_with_or_without_label(tmp_path, maze_rows, family):
    meta, inputs, labels, pred = family_cases(maze_rows)[family]
    full = render_item(tmp_path / "full.png", meta, inputs, labels, pred, title=family)
    bare = render_item(tmp_path / "bare.png", meta, inputs, None, pred)  # a user's puzzle: no label known
    for path in (full, bare):
        image = Image.open(path)
        assert image.size == PIXELS
        # Drawn, not blank: many distinct colours (board, ink, difference shading).
        assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 5
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


@pytest.fixture
def report(tmp_path):
    out = tmp_path / "eval"
    (out / "plots").mkdir(parents=True)
    inside = render_item(out / "plots" / "inside.png", SUDOKU, SOLUTION, SOLUTION, SOLUTION)
    outside = render_item(tmp_path / "outside.png", SUDOKU, SOLUTION, SOLUTION, SOLUTION)
    items = [sudoku_item("example 1", True), sudoku_item("example <2>", False), sudoku_item("3", False)]
    metrics = {"exact_accuracy": 1 / 3, "act": {"mean_steps": 3.0}, "num_examples": 3}
    meta = json.loads(json.dumps(SUDOKU.to_json({})))  # the metadata.json form works as well
    html = write_report(out, items, [inside, outside], metrics, meta=meta, title="tiny eval")
    return html, items


def test_report_links_a_gallery_and_the_plots_and_lists_the_metrics(report):
    html, items = report
    text = html.read_text()
    out = html.parent
    assert "tiny eval" in text and "act.mean_steps" in text and "0.3333" in text
    assert "example &lt;2&gt;" in text and "<2>" not in text  # names are escaped
    assert "Solved test puzzles (1)" in text and "Not solved test puzzles (2)" in text
    gallery = sorted(p.name for p in (out / "gallery").glob("*.png"))
    assert gallery == ["01-example-1.png", "02-example-2.png", "03-3.png", "outside.png"]
    assert 'src="plots/inside.png"' in text and 'src="gallery/outside.png"' in text  # copied in
    assert all(Image.open(out / "gallery" / g).size == PIXELS for g in gallery)
    assert not [p for p in out.rglob(".*")]  # atomic writes leave no temp files


def _chrome():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("headless Chromium needs the chromium and chromium-driver packages (apt)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.mark.slow
def test_headless_chromium_renders_every_image_of_the_report(report):
    html, items = report
    browser = _chrome()
    try:
        browser.set_page_load_timeout(60)
        browser.get(html.as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => "
            "({src: i.getAttribute('src'), done: i.complete, w: i.naturalWidth, h: i.naturalHeight}))"
        )
    finally:
        browser.quit()
    assert len(images) == len(items) + 2  # the gallery and both plots
    assert all(img["done"] and img["w"] > 0 for img in images), images
    puzzles = [img for img in images if img["src"].startswith("gallery/0")]
    assert [(img["w"], img["h"]) for img in puzzles] == [PIXELS] * len(items)
