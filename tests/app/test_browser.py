"""The main journeys in a real browser: Playwright drives Debian's Chromium on `streamlit run`.

Skipped, with the reason, only when /usr/bin/chromium is absent and CI is not "true"; under
CI=true a missing browser fails the tests. Screenshots of every page go to
test-output/screenshots/.
"""

import os
import re
from pathlib import Path

import pytest
from app_helpers import (CHROMIUM, CHROMIUM_FLAGS, ROOT, app_environment, click_matrix_cell,
                         png_bytes, skip_module_without_chromium, streamlit_server, tiny_image)

SCREENSHOTS = ROOT / "test-output" / "screenshots"
SLOW_MS = 180_000  # the server's first prediction imports TensorFlow and loads the bundle

skip_module_without_chromium()

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(shared_roots, tmp_path_factory):
    """`streamlit run app.py` on a free port, pointed at the tiny bundle and dataset."""
    from ui import app_store

    app_dir = tmp_path_factory.mktemp("browser_app_state")
    user = tmp_path_factory.mktemp("browser_user_models")
    roots = shared_roots.__class__(shared_roots.shipped_default, user, shared_roots.data_root,
                                   shared_roots.dataset)
    app_store.remember_dataset(app_dir / "state.json", str(roots.dataset))
    environment = {**os.environ, **app_environment(roots, app_dir)}
    with streamlit_server(environment) as url:
        yield url, roots


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh browser session on the app's Home page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.goto(server[0])
    tab.get_by_text("SEM defect inspection workbench").first.wait_for(timeout=60_000)
    yield tab
    context.close()


def _open(page, title: str, heading: str) -> None:
    page.locator("[data-testid=stSidebarNav]").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)


def _settled(page) -> None:
    """Wait until the script run is over and no element is still a loading placeholder."""
    page.wait_for_function(
        """() => !document.querySelector('[data-testid=stStatusWidgetRunningIcon]')
                 && !document.querySelector('[data-testid^=stSkeleton]')""", timeout=SLOW_MS)


def _screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    _settled(page)
    # Streamlit scrolls inside its main section, so grow the window to the page's full height.
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(1000, min(int(height) + 40, 6000))})
    page.wait_for_timeout(1500)  # let charts finish drawing at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    return path


def test_upload_an_image_and_see_its_label_and_overlay(page, tmp_path):
    import numpy as np

    _screenshot(page, "home.png")
    image = tmp_path / "wafer_01.png"
    image.write_bytes(png_bytes(tiny_image("Bridges", np.random.default_rng(5))))
    _open(page, "Inspect", "Inspect images")
    page.locator("input[type=file]").first.set_input_files(str(image))
    page.get_by_text("1 file: 1 scored, 0 unreadable").wait_for(timeout=SLOW_MS)
    headline = page.get_by_text(re.compile(r"wafer_01\.png: (Clean|Bridges|Cracks|Opens|Shorts|"
                                           r"Scratches|Vias|Other) \(confidence"))
    headline.wait_for(timeout=SLOW_MS)
    overlay = page.get_by_text(re.compile("^Stage 2 LayerCAM: ")).first
    overlay.wait_for(timeout=SLOW_MS)
    # The image and both overlays are drawn: three pictures, all decoded by the browser.
    page.wait_for_function(
        """() => {
            const pictures = [...document.querySelectorAll('[data-testid=stImage] img')];
            return pictures.length >= 3
                && pictures.every(node => node.complete && node.naturalWidth > 0);
        }""", timeout=60_000)
    _screenshot(page, "inspect.png")


def test_click_a_confusion_matrix_cell_and_see_its_images(page, server):
    import numpy as np

    from sem_core.data.layouts import load_dataset
    from sem_core.evaluation import evaluate_bundle
    from sem_core.registry import load_bundle

    roots = server[1]
    expected = evaluate_bundle(load_bundle(roots.shipped_default),
                               load_dataset(roots.dataset).manifest, split="Test")
    matrix = expected.report.end_to_end.confusion
    # The last non-empty cell in reading order: far from the corner a wrong mapping would hit.
    row, column = divmod(int(np.flatnonzero(matrix.matrix.ravel())[-1]), len(matrix.labels))
    count = int(matrix.matrix[row, column])
    _open(page, "Metrics", "Metrics")
    page.get_by_role("button", name="Evaluate default").click()
    page.get_by_text("Rows are the true class").wait_for(timeout=SLOW_MS)
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for(timeout=60_000)
    click_matrix_cell(page, matrix.labels[column], matrix.labels[row])
    page.get_by_text(f"{count} images true {matrix.labels[row]}, predicted "
                     f"{matrix.labels[column]}").wait_for(timeout=60_000)
    cell_pictures = page.locator("[data-testid=stImage] img")
    cell_pictures.nth(count - 1).wait_for(timeout=60_000)
    _screenshot(page, "metrics.png")


def test_models_page_lists_the_bundle_with_its_card(page):
    _open(page, "Models", "Models")
    page.get_by_text("Model card: default").first.wait_for(timeout=60_000)
    _screenshot(page, "models.png")


def test_a_zip_bomb_upload_is_refused_and_the_next_image_is_classified(page, tmp_path,
                                                                       zero_bomb_4gib):
    import numpy as np

    _open(page, "Inspect", "Inspect images")
    uploader = page.locator("input[type=file]").first
    uploader.set_input_files(str(zero_bomb_4gib))
    page.get_by_text("1 file: 0 scored, 1 unreadable").wait_for(timeout=SLOW_MS)
    refusal = page.get_by_text(re.compile(r"lot_4gib\.zip/bomb\.png: the member's declared "
                                          r"decompressed size is 4,294,967,296 bytes.*"
                                          r"\(too_large\)"))
    refusal.wait_for(timeout=60_000)
    _screenshot(page, "inspect_zip_bomb.png")
    image = tmp_path / "after_bomb.png"
    image.write_bytes(png_bytes(tiny_image("Scratches", np.random.default_rng(9))))
    uploader.set_input_files(str(image))
    page.get_by_text(re.compile(r"after_bomb\.png: (Clean|Bridges|Cracks|Opens|Shorts|Scratches"
                                r"|Vias|Other) \(confidence")).wait_for(timeout=SLOW_MS)
    page.get_by_text(re.compile(r"\d files?: 1 scored")).wait_for(timeout=60_000)


def test_a_bundle_with_a_lambda_layer_is_listed_as_broken_on_models(page, server):
    import shutil

    from hostile_bundles import lambda_model_file

    unsafe = server[1].user_models / "unsafe_lambda"
    shutil.copytree(server[1].shipped_default, unsafe)
    (unsafe / "stage1.keras").unlink()
    lambda_model_file(unsafe / "stage1.keras")
    try:
        _open(page, "Models", "Models")
        page.get_by_text("1 bundle folder cannot be used (broken)").wait_for(timeout=60_000)
        page.get_by_text(f"{unsafe / 'stage1.keras'}: it holds a Lambda layer ('double_it')",
                         exact=False).wait_for(timeout=60_000)
        page.get_by_text("Model card: default").first.wait_for(timeout=60_000)
        _screenshot(page, "models_broken.png")
    finally:
        shutil.rmtree(unsafe)
