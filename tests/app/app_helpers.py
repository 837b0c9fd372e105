"""Helpers shared by the app tests: tiny images, app folders and fresh AppTest sessions."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sem_core.classes import CLASSES

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32
PER_SPLIT = {"Train": 4, "Validation": 2, "Test": 2}
APP_TIMEOUT_S = 180  # the first run in a process imports TensorFlow and loads the bundle


def tiny_image(label: str, rng: np.random.Generator) -> np.ndarray:
    """Horizontal grey bands with noise; defect classes get a bright block sized by class."""
    rows = np.arange(SIZE)[:, np.newaxis]
    bands = 0.35 + 0.15 * ((rows // int(rng.integers(3, 6))) % 2)
    image = bands + rng.normal(0.0, 0.04, (SIZE, SIZE))
    index = CLASSES.index(label)
    if index:
        top, left = rng.integers(4, SIZE - 14, size=2)
        image[top:top + 2 + index, left:left + 12 - index] = 0.95
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode a uint8 image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class AppRoots:
    """Folders an app under test uses."""

    shipped_default: Path
    user_models: Path
    data_root: Path
    dataset: Path


def copy_bundle(source: Path, target: Path, created: str) -> Path:
    """Copy a bundle folder under a new name with its own creation time."""
    shutil.copytree(source, target)
    info = json.loads((target / "bundle.json").read_text())
    info.update(name=target.name, created=created)
    (target / "bundle.json").write_text(json.dumps(info))
    return target


def app_environment(roots: AppRoots, app_dir: Path) -> dict[str, str]:
    """Environment variables pointing the app at ``roots`` and its own state folder."""
    return {"SEM_DEFAULT_BUNDLE": str(roots.shipped_default),
            "SEM_MODELS_DIR": str(roots.user_models), "SEM_DATA_ROOT": str(roots.data_root),
            "SEM_APP_DIR": str(app_dir)}


def remember_dataset(dataset: Path) -> None:
    """Pre-record a labelled dataset in the app state, as the Home page would."""
    from ui import app_store, settings

    app_store.remember_dataset(settings.state_file(), str(dataset))


def new_app():
    """A fresh AppTest session of the whole app (navigation and sidebar included)."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT_S)


def inspect_page():
    """A fresh session opened on the Inspect page."""
    app = new_app()
    app.run()
    app.switch_page("app_pages/inspect.py").run()
    return app


def upload_to_inspect(app, files):
    """Upload ``(name, bytes, mime)`` files on the Inspect page, rerun, and check no exception."""
    app.file_uploader(key="inspect_upload").set_value(files)
    app.run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def click_matrix_cell(page, predicted: str, truth: str) -> None:
    """Click the cell (``truth`` row, ``predicted`` column) of the page's first Plotly confusion
    matrix where Plotly itself draws it (axis data-to-pixel maps), hovering first as a user does."""
    x, y = page.evaluate(
        """([predicted, truth]) => {
            const chart = document.querySelector('.js-plotly-plot');
            const layout = chart._fullLayout, box = chart.getBoundingClientRect();
            return [box.left + layout.xaxis._offset + layout.xaxis.d2p(predicted),
                    box.top + layout.yaxis._offset + layout.yaxis.d2p(truth)];
        }""", [predicted, truth])
    page.mouse.move(x - 3, y - 3)
    page.wait_for_timeout(300)
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)


CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium as root, headless, with no calls home (the machine's network is closed).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage"]


def skip_module_without_chromium() -> None:
    """Skip the calling test module when Chromium is absent, except under CI=true (never skipped)."""
    if not CHROMIUM.exists() and os.environ.get("CI") != "true":
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); the browser tests "
                    "run whenever it is, and always under CI=true.", allow_module_level=True)


@contextlib.contextmanager
def streamlit_server(environment: dict[str, str], timeout_s: float = 120.0):
    """Run `streamlit run app.py` on a free port with ``environment``; yield its URL once
    /_stcore/health answers, and stop it afterwards."""
    import socket
    import subprocess
    import sys
    import time

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode(errors="replace")
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"the app server did not answer /_stcore/health within {timeout_s:.0f} s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def chromium_on_home(url: str):
    """A headless Chromium tab on the app at ``url``, once its Home page has drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            tab = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            tab.goto(url)
            tab.get_by_text("SEM defect inspection workbench").first.wait_for(timeout=60_000)
            yield tab
        finally:
            chromium.close()


def open_page(page, title: str, heading: str) -> None:
    """Click ``title`` in the sidebar's navigation and wait for the page's ``heading``."""
    page.locator("[data-testid=stSidebarNav]").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
