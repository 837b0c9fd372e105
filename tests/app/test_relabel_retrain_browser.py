"""Relabel -> retrain -> promote in a real browser (Playwright, Debian's Chromium) on the tiny
dataset, with screenshots in test-output/screenshots/relabel_*.png and retrain_*.png.

Skipped, with the reason, only when /usr/bin/chromium is absent and CI is not "true".
"""

import os
import re

import pytest
from app_helpers import (ROOT, app_environment, chromium_on_home, open_page,
                         skip_module_without_chromium, streamlit_server)

SCREENSHOTS = ROOT / "test-output" / "screenshots"
SLOW_MS = 300_000  # the queue and the retrain job load TensorFlow and train

skip_module_without_chromium()

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(shared_roots, tmp_path_factory):
    """`streamlit run app.py` with its own app folder, user registry and jobs folder."""
    from ui import app_store

    base = tmp_path_factory.mktemp("relabel_browser")
    roots = shared_roots.__class__(shared_roots.shipped_default, base / "user_models",
                                   shared_roots.data_root, shared_roots.dataset)
    app_store.remember_dataset(base / "app" / "state.json", str(roots.dataset))
    environment = {**os.environ, **app_environment(roots, base / "app"),
                   "SEM_JOBS_DIR": str(base / "jobs")}
    with streamlit_server(environment) as url:
        yield url, roots, base


@pytest.fixture
def page(server):
    with chromium_on_home(server[0]) as tab:
        yield tab


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(1000, min(int(height) + 40, 6000))})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_relabel_then_retrain_then_promote(page, server):
    from sem_core.jobs.promotion import read_log
    from sem_core.labels import LabelStore

    url, roots, base = server
    open_page(page, "Relabel", "Review and relabel")
    page.get_by_role("button", name="Build the review queue").click()
    facts = page.locator("[data-testid=stMarkdownContainer]", has_text="Suggested:").first
    facts.wait_for(timeout=SLOW_MS)
    given = re.search(r"Given:\s*(\w+)", facts.inner_text()).group(1)
    page.wait_for_function("document.querySelectorAll('[data-testid=stImage] img').length >= 3",
                           timeout=SLOW_MS)
    _screenshot(page, "relabel_queue.png")
    target = "Vias" if given != "Vias" else "Opens"
    page.get_by_role("button", name=re.compile(rf"^\d {target}\b")).click()
    # Markdown draws "->" as an arrow.
    page.get_by_text(re.compile(rf"{given} \S+ {target} \(recorded\)")).wait_for(timeout=60_000)
    _screenshot(page, "relabel_recorded.png")
    databases = list((base / "app" / "labels").glob("*.db"))
    assert len(databases) == 1
    assert LabelStore(databases[0]).history()[-1].new_label == target

    open_page(page, "Retrain", "Retrain, compare, promote")
    page.get_by_text("1 relabelled", exact=False).first.wait_for(timeout=60_000)
    for label in ("Stage-2 epochs", "Stage-1 epochs"):
        field = page.get_by_role("spinbutton", name=label)  # not its help button
        field.fill("1")
        field.press("Tab")
    page.get_by_role("button", name="Retrain on the corrected labels").click()
    page.get_by_text(re.compile(r"last update \d+ s ago")).first.wait_for(timeout=SLOW_MS)
    _screenshot(page, "retrain_running.png")
    # "Promote anyway" when the tiny retrain scores worse than the active bundle (it often does).
    promote = page.get_by_role("button", name=re.compile(r"^Promote (the new bundle|anyway)$"))
    promote.wait_for(timeout=SLOW_MS)
    page.get_by_text("predictions changed", exact=False).first.wait_for(timeout=60_000)
    _screenshot(page, "retrain_comparison.png")
    page.get_by_label("Why promote (recorded)").fill("browser journey")
    page.get_by_label("Why promote (recorded)").press("Tab")
    promote.click()
    page.get_by_text("is now the active bundle (logged)").wait_for(timeout=60_000)
    _screenshot(page, "retrain_promoted.png")
    record = read_log(roots.user_models)[-1]
    assert record.note == "browser journey" and record.bundle.rsplit("/", 1)[-1].startswith(
        "retrain-")
