"""Flag for review from the Metrics confusion-matrix cell view and from the Inspect detail view,
then find the flagged images first in the Relabel queue (AppTest, an untrained 32-px bundle)."""

import time

import numpy as np
import pytest
from app_helpers import ROOT, AppRoots, app_environment, png_bytes, remember_dataset, tiny_image
from bundle_fixtures import make_untrained_bundle, write_tiny_dataset

from sem_core.labels import DecisionSource
from ui import review_flags
from ui.evaluation import CellRef, MatrixView, cell_members, matrix_of
from ui.metrics_view import flag_scope

pytestmark = pytest.mark.slow

PER_SPLIT = {"Train": 4, "Validation": 2, "Test": 1}


@pytest.fixture(scope="module")
def flag_roots(tmp_path_factory) -> AppRoots:
    """A tiny labelled dataset under the data root and an untrained bundle as the default."""
    base = tmp_path_factory.mktemp("flag_pages")
    dataset = write_tiny_dataset(base / "data" / "tiny", PER_SPLIT, seed=11)
    shipped = make_untrained_bundle(base / "shipped" / "default")
    (base / "user_models").mkdir()
    return AppRoots(shipped, base / "user_models", base / "data", dataset)


@pytest.fixture
def flag_env(flag_roots, tmp_path, monkeypatch) -> AppRoots:
    """The app pointed at the roots, with a fresh state folder and the dataset as current."""
    for name, value in app_environment(flag_roots, tmp_path / "app_state").items():
        monkeypatch.setenv(name, value)
    remember_dataset(flag_roots.dataset)
    return flag_roots


def _page(page):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.run()
    app.switch_page(page).run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def _run(widget):
    app = widget.run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def _texts(app, kind):
    return [item.value for item in getattr(app, kind)]


def _wait_for_queue(app, timeout_s=300):
    """Rerun the Relabel page (as its build fragment's timer would) until the background queue
    build has ended and the page shows the queue."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _run(app)
        if any("ranked with bundle" in text for text in _texts(app, "caption")):
            return app
        time.sleep(1.0)
    raise AssertionError("the review queue build did not finish in time")


def _open_largest_cell(split):
    app = _page("app_pages/metrics.py")
    app.selectbox(key="metrics_split").set_value(split).run()
    _run(app.button(key="metrics_evaluate").click())
    (run,) = app.session_state["evaluations"].values()
    matrix = matrix_of(run.report, MatrixView.END_TO_END)
    row, column = divmod(int(matrix.matrix.argmax()), len(matrix.labels))
    cell = CellRef(MatrixView.END_TO_END, matrix.labels[row], matrix.labels[column])
    app.session_state["metrics_cell"] = cell  # what a click on that cell stores
    return _run(app), cell, cell_members(run.predictions, cell)


def test_cell_flags_chosen_then_all_once_and_relabel_shows_them_first(flag_env):
    from sem_core.review import ReviewQueue
    from ui import relabel

    app, cell, members = _open_largest_cell("Train")
    scope, count = flag_scope(cell), len(members)
    assert count >= 2
    _run(app.text_input(key=f"{scope}_who").input("ana"))
    first = members.iloc[0]
    _run(app.multiselect(key=f"{scope}_chosen").set_value([first["path"]]))
    assert app.button(key=f"{scope}_button").label == "Flag 1 image for review"
    _run(app.button(key=f"{scope}_button").click())
    assert _texts(app, "success")[0].startswith("Flagged 1 image of tiny for review")
    store = relabel.store(flag_env.dataset)
    assert [(row.sha256, row.source, row.who, row.new_label) for row in store.history()] == [
        (first["sha256"], DecisionSource.REVIEW_REQUEST, "ana", cell.true_label)]

    _run(app.multiselect(key=f"{scope}_chosen").set_value([]))
    assert app.button(key=f"{scope}_button").label == f"Flag {count} images for review"
    _run(app.button(key=f"{scope}_button").click())
    assert _texts(app, "success")[0].startswith(f"Flagged {count - 1} image")
    name = first["path"].rsplit("/", 1)[-1]
    assert f"{name} is already flagged and waiting for review; not flagged twice." in _texts(
        app, "warning")
    _run(app.button(key=f"{scope}_button").click())
    assert not app.success
    assert any(text.startswith(f"{count} images (") for text in _texts(app, "warning"))
    assert store.count() == count
    assert {row.sha256 for row in store.history()} == set(members["sha256"])

    _run(app.switch_page("app_pages/relabel.py"))
    _run(app.button(key="relabel_build").click())
    _wait_for_queue(app)
    queue = ReviewQueue.load(relabel.queue_path(flag_env.dataset))
    assert {item.sha256 for item in queue.items[:count]} == set(members["sha256"])
    assert any("**Why:** flagged" in text for text in _texts(app, "markdown"))


def test_cell_of_the_held_out_test_split_flags_and_relabel_shows_the_items_as_held_out(flag_env):
    from sem_core.labels import pinned_heldout
    from sem_core.review import ReviewQueue
    from ui import relabel

    app, cell, members = _open_largest_cell("Test")
    scope, count = flag_scope(cell), len(members)
    assert set(members["split"]) == {"Test"}
    assert review_flags.HELD_OUT_NOTE in _texts(app, "caption")
    _run(app.button(key=f"{scope}_button").click())
    (text,) = _texts(app, "success")
    assert text.startswith(f"Flagged {count} image")
    assert "in the held-out Test split: " in text and "reports relabelled held-out images " \
        "separately from its headline figures" in text
    store = relabel.store(flag_env.dataset)
    assert {(row.sha256, row.source) for row in store.history()} == {
        (sha256, DecisionSource.REVIEW_REQUEST) for sha256 in members["sha256"]}
    assert set(members["sha256"]) <= pinned_heldout(store).sha256s

    _run(app.switch_page("app_pages/relabel.py"))
    _run(app.button(key="relabel_build").click())
    _wait_for_queue(app)
    queue = ReviewQueue.load(relabel.queue_path(flag_env.dataset))
    assert [(item.sha256 in set(members["sha256"]), item.split) for item in queue.items[:count]] \
        == [(True, "Test")] * count
    assert any("**Why:** flagged" in text for text in _texts(app, "markdown"))
    assert relabel.held_out_note(queue.items[0]) in _texts(app, "caption")


def test_inspect_flags_an_image_of_the_current_dataset_and_says_why_not_otherwise(flag_env):
    from sem_core.labels.corrected import file_sha256
    from ui import relabel

    in_dataset = flag_env.dataset / "Train" / "Bridges" / "Bridges_0.png"
    held_out = flag_env.dataset / "Test" / "Cracks" / "Cracks_0.png"
    foreign = png_bytes(tiny_image("Bridges", np.random.default_rng(5)))
    app = _page("app_pages/inspect.py")
    app.file_uploader(key="inspect_upload").set_value([
        ("mine.png", in_dataset.read_bytes(), "image/png"),
        ("held.png", held_out.read_bytes(), "image/png"), ("foreign.png", foreign, "image/png")])
    _run(app)
    _run(app.selectbox(key="inspect_detail").set_value("mine.png"))
    _run(app.text_input(key="inspect_who").input("ben"))
    _run(app.button(key="inspect_flag").click())
    assert _texts(app, "success") == [
        "Flagged 1 image of tiny for review (Bridges_0.png); labels unchanged. Rebuild the "
        "review queue on the Relabel page: flagged images come first."]
    store = relabel.store(flag_env.dataset)
    decision = store.current()[file_sha256(in_dataset)]
    assert (decision.source, decision.who, decision.new_label) == (
        DecisionSource.REVIEW_REQUEST, "ben", "Bridges")
    _run(app.button(key="inspect_flag").click())
    assert "Bridges_0.png is already flagged" in _texts(app, "warning")[0]

    _run(app.selectbox(key="inspect_detail").set_value("held.png"))
    _run(app.button(key="inspect_flag").click())
    assert _texts(app, "success")[0].startswith("Flagged 1 image of tiny for review "
                                                "(Cracks_0.png); labels unchanged.")
    assert "Cracks_0.png is in the held-out Test split: it keeps its place there" in _texts(
        app, "success")[0]
    _run(app.selectbox(key="inspect_detail").set_value("foreign.png"))
    _run(app.button(key="inspect_flag").click())
    assert _texts(app, "warning")[0].startswith(
        "foreign.png is not in the current dataset tiny (no image there has the same bytes)")
    assert store.count() == 2

    app.session_state["dataset"] = None
    _run(app)
    assert not [button for button in app.button if button.key == "inspect_flag"]
    assert any(text.startswith("Only images of a labelled dataset can be flagged")
               for text in _texts(app, "caption"))
