"""`make run`'s first journey in a real browser, on the shipped default bundle (models/default).

Home -> Create demo images -> Inspect (each demo image's true class beside its prediction, the
demo set's accuracy, a Grad-CAM overlay) -> Create a demo labelled dataset -> Metrics -> a
confusion-matrix cell -> its images. Unlike tests/app/test_browser.py, which runs on a tiny
bundle, nothing here is a stand-in: the app starts as a fresh clone's does, with only its data
and state folders moved to temporary ones. Skipped like the other browser tests when Chromium is
absent (never under CI=true).
"""

import os
import re

import pytest
from app_helpers import (ROOT, AppRoots, app_environment, chromium_on_home, click_matrix_cell,
                         open_page, skip_module_without_chromium, streamlit_server)

SHIPPED = ROOT / "models" / "default"
SLOW_MS = 240_000  # TensorFlow import, the real bundle's load and the generator's first run

skip_module_without_chromium()

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("default_app")
    roots = AppRoots(SHIPPED, base / "user_models", base / "data", base / "data" / "none")
    roots.user_models.mkdir()
    roots.data_root.mkdir()
    environment = {**os.environ, **app_environment(roots, base / "app_state")}
    with streamlit_server(environment) as url:
        yield url, roots


@pytest.fixture(scope="module")
def page(server):
    with chromium_on_home(server[0]) as tab:
        yield tab


def test_demo_images_inspect_gradcam_and_a_metrics_cell_on_the_shipped_default(page, server):
    import numpy as np

    from sem_core.data.layouts import load_dataset
    from sem_core.evaluation import evaluate_bundle
    from sem_core.registry import load_bundle

    # Home: the demo images, one of each class, with their answer key
    page.get_by_role("button", name="Create demo images").click()
    page.get_by_text(re.compile(r"\d+ demo images are in ")).wait_for(timeout=SLOW_MS)

    # Inspect: the shipped model labels them; each shows its true class; the set's accuracy
    open_page(page, "Inspect", "Inspect images")
    page.get_by_text("Demo images", exact=True).click()
    page.get_by_role("button", name="Inspect the demo images").click()
    summary = page.get_by_text(re.compile(r"Demo images: \d+ of \d+ predicted as their true "
                                          r"class"))
    summary.wait_for(timeout=SLOW_MS)
    correct, known = (int(n) for n in re.findall(r"\d+", summary.inner_text())[:2])
    assert known == 8 and 0 <= correct <= known
    page.get_by_text(re.compile(r"true class \w+ \((correct|wrong)\)")).first.wait_for(
        timeout=60_000)
    page.get_by_text(re.compile("^Stage 2 LayerCAM: |^Stage 1 LayerCAM: ")).first.wait_for(
        timeout=SLOW_MS)
    page.wait_for_function(
        """() => {
            const pictures = [...document.querySelectorAll('[data-testid=stImage] img')];
            return pictures.length >= 2
                && pictures.every(node => node.complete && node.naturalWidth > 0);
        }""", timeout=60_000)

    # Home again: a small labelled dataset, which becomes the current one
    open_page(page, "Home", "SEM defect inspection workbench")
    page.get_by_role("button", name="Create a demo labelled dataset").click()
    page.get_by_text(re.compile(r"Added .*demo.*: \d+ images")).wait_for(timeout=SLOW_MS)

    # Metrics: evaluate the shipped default, click the last non-empty cell, see its images
    dataset = server[1].data_root / "demo" / "dataset"
    expected = evaluate_bundle(load_bundle(SHIPPED), load_dataset(dataset).manifest, split="Test")
    matrix = expected.report.end_to_end.confusion
    # An error cell if there is one (the last in reading order), else the last non-empty cell
    filled = np.flatnonzero(matrix.matrix.ravel())
    errors = [index for index in filled if index // len(matrix.labels) != index % len(matrix.labels)]
    row, column = divmod(int((errors or filled)[-1]), len(matrix.labels))
    count = int(matrix.matrix[row, column])
    open_page(page, "Metrics", "Metrics")
    page.get_by_role("button", name="Evaluate default").click()
    page.get_by_text("Rows are the true class").wait_for(timeout=SLOW_MS)
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for(timeout=60_000)
    # The page's own matrix is the one computed here (same bundle, same Test split)
    shown = page.evaluate("""() => {
        const z = document.querySelector('.js-plotly-plot').data[0].z;
        return (z._inputArray || z).map(row => Array.from(row));
    }""")
    assert np.array_equal(np.asarray(shown, dtype=int), matrix.matrix)
    caption = page.get_by_text(f"{count} images true {matrix.labels[row]}, predicted "
                               f"{matrix.labels[column]}")
    for attempt in range(3):  # a click that lands while the chart is still settling is lost
        click_matrix_cell(page, matrix.labels[column], matrix.labels[row])
        try:
            caption.wait_for(timeout=20_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; tried again below
            if attempt == 2:
                raise
    page.locator("[data-testid=stImage] img").nth(count - 1).wait_for(timeout=60_000)
