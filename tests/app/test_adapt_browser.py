"""A new tool's images in a real browser (Playwright, Debian's Chromium), on the shipped default:
upload a folder of tool-B images on Inspect -> the shift warning -> "Adapt to these images" ->
Models: compare the adapted bundle with the default on tool-B labelled images -> make it the
active bundle. Screenshots in test-output/screenshots/adapt_*.png.

The default bundle carries the shift reference it was shipped with (models/default/shift); the
images are the generator's tool B (`synth --tool b`), which the reference flags (docs/
domain-shift.md). Skipped like the other browser tests when Chromium is absent (never under
CI=true).
"""

import os
import re
import shutil

import pytest
from app_helpers import (ROOT, AppRoots, app_environment, chromium_on_home, open_page,
                         skip_module_without_chromium, streamlit_server)

SHIPPED = ROOT / "models" / "default"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
SLOW_MS = 240_000  # TensorFlow import, the real bundle's load, the cascade and the adaptation

skip_module_without_chromium()

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on the shipped default, with a labelled tool-B dataset as the current dataset and
    a flat folder of the same images to upload."""
    from sem_core.data.synth.writer import write_dataset
    from ui import app_store

    base = tmp_path_factory.mktemp("adapt_app")
    roots = AppRoots(SHIPPED, base / "user_models", base / "data", base / "data" / "tool_b")
    roots.user_models.mkdir()
    write_dataset(roots.dataset, per_class=8, size=224, seed=12011, workers=1, tool="b",
                  progress=False)
    folder = base / "upload" / "tool_b_images"
    folder.mkdir(parents=True)
    for image in sorted((roots.dataset / "master_dataset").rglob("*")):
        if image.is_file() and image.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif",
                                                         ".tiff", ".bmp"}:
            shutil.copy(image, folder / image.name)
    app_store.remember_dataset(base / "app_state" / "state.json", str(roots.dataset))
    environment = {**os.environ, **app_environment(roots, base / "app_state")}
    with streamlit_server(environment) as url:
        yield url, roots, folder


@pytest.fixture(scope="module")
def page(server):
    with chromium_on_home(server[0]) as tab:
        yield tab


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_tool_b_folder_is_flagged_adapted_compared_and_made_active(page, server):
    import json

    _, roots, folder = server
    images = sorted(folder.iterdir())
    assert len(images) >= 16  # "Adapt to these images" needs 16

    # Inspect: upload the folder; the shipped model labels it and warns that it looks unlike
    # its training images
    open_page(page, "Inspect", "Inspect images")
    page.get_by_text("Upload a folder", exact=True).click()
    uploader = page.locator("[data-testid=stFileUploader]", has_text="A folder of SEM images")
    uploader.wait_for(timeout=60_000)
    uploader.locator("input[type=file]").set_input_files(folder)
    page.get_by_text(re.compile(rf"{len(images)} files: {len(images)} scored")).wait_for(
        timeout=SLOW_MS)
    page.get_by_text("These images look unlike the ones the model was trained on").wait_for(
        timeout=SLOW_MS)
    _screenshot(page, "adapt_warning.png")

    # Adapt: a new user bundle; the shipped one is not touched
    page.get_by_role("button", name="Adapt to these images").click()
    page.get_by_text(re.compile(r"Wrote bundle default-adapted-\d{8}-\d{6}")).wait_for(
        timeout=SLOW_MS)
    (adapted,) = sorted(roots.user_models.glob("default-adapted-*"))
    record = json.loads((adapted / "bundle.json").read_text())["training"]["adaptation"]
    assert record["method"] == "coral" and record["images"] == len(images)
    _screenshot(page, "adapt_written.png")

    # Models: compare both on the labelled tool-B images, then make the adapted one active
    open_page(page, "Models", "Models")
    page.get_by_role("heading", name="Compare two bundles").wait_for(timeout=60_000)
    page.get_by_role("button", name=re.compile(r"^Evaluate both on ")).click()
    page.get_by_text("End-to-end F1 per class on").first.wait_for(timeout=SLOW_MS)
    _screenshot(page, "adapt_compared.png")
    choice = page.get_by_label("Bundle", exact=True)
    choice.click()
    choice.press_sequentially(adapted.name)  # the select filters its options as one types
    choice.press("Enter")
    page.get_by_role("button", name=f"Make {adapted.name} the active bundle").click()
    page.get_by_text(f"{adapted.name} is now the active bundle.").wait_for(timeout=60_000)
    _screenshot(page, "adapt_active.png")
