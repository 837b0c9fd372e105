"""Metrics page: evaluate the real tiny bundle, pick a confusion-matrix cell, move the threshold."""

import pytest
from app_helpers import new_app, remember_dataset

from sem_core.metrics import stage1_rates_at
from ui.evaluation import CellRef, MatrixView, cell_members, matrix_of


@pytest.fixture
def evaluated(app_env):
    """A Metrics page after pressing Evaluate on the Test split of the tiny dataset."""
    remember_dataset(app_env.dataset)
    app = new_app()
    app.run()
    app.switch_page("app_pages/metrics.py").run()
    app.button(key="metrics_evaluate").click().run()
    assert not app.exception, [item.value for item in app.exception]
    (run,) = app.session_state["evaluations"].values()
    return app, run


def _metric(app, label):
    return next(item.value for item in app.metric if item.label == label)


def test_evaluation_shows_headline_figures_of_the_split(evaluated):
    app, run = evaluated
    assert _metric(app, "images") == "16"
    assert _metric(app, "accuracy") == f"{run.report.accuracy:.3f}"
    assert run.split == "Test" and len(run.predictions) == 16


def test_selected_cell_shows_exactly_its_images_and_grad_cam_on_demand(evaluated):
    app, run = evaluated
    matrix = matrix_of(run.report, MatrixView.END_TO_END)
    row, column = divmod(int(matrix.matrix.argmax()), len(matrix.labels))
    cell = CellRef(MatrixView.END_TO_END, matrix.labels[row], matrix.labels[column])
    app.session_state["metrics_cell"] = cell  # what a click on that cell stores
    app.run()
    count = int(matrix.matrix[row, column])
    expected = f"**{count} images** true *{cell.true_label}*, predicted *{cell.predicted_label}*"
    assert any(item.value.startswith(expected) for item in app.markdown)
    assert len(app.image) == count
    assert len(cell_members(run.predictions, cell)) == count
    app.button(key="metrics_cam_0").click().run()
    captions = [image.captions[0] for image in app.image]
    assert any(caption.startswith("Stage 1 LayerCAM: evidence for Defective")
               for caption in captions)
    assert any(caption.startswith("Stage 2 LayerCAM: ") for caption in captions)


def test_threshold_slider_updates_escape_and_overkill_from_cached_scores(evaluated):
    app, run = evaluated
    scored = run.predictions
    scores = scored["stage1_probability"].to_numpy(dtype=float)
    defective = (scored["label"] != "Clean").to_numpy()
    for threshold in (0.0, 0.5, 1.0):
        app.slider(key="metrics_threshold").set_value(threshold).run()
        expected = stage1_rates_at(threshold, scores, defective)
        assert _metric(app, "Escape rate") == f"{expected.escape_rate:.3f}"
        assert _metric(app, "Overkill rate") == f"{expected.overkill_rate:.3f}"
    assert _metric(app, "Sent to stage 2") == f"{expected.flagged_fraction:.1%}"
    app.slider(key="metrics_threshold").set_value(0.0).run()
    assert (_metric(app, "Escape rate"), _metric(app, "Overkill rate")) == ("0.000", "1.000")
    assert len(app.session_state["evaluations"]) == 1  # no re-evaluation
