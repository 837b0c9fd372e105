"""A held-out Test image flagged for review and relabelled stays held out: the retrain job's
corrected manifest keeps it in Test (training reads only Train and Validation), and the bundle
comparison lists it among the relabelled images, apart from its headline figures."""

import pytest

from sem_core.data.layouts import load_dataset
from sem_core.labels import DecisionSource, LabelStore, ensure_sha256


@pytest.fixture(scope="module")
def relabelled_test_image(review_dataset, tmp_path_factory):
    """A label store in which one Test image was flagged, then relabelled; that entry."""
    base = ensure_sha256(load_dataset(review_dataset).manifest)
    held = next(entry for entry in base.entries
                if entry.split == "Test" and entry.label != "Other")
    store = LabelStore(tmp_path_factory.mktemp("heldout_relabel") / "labels.db")
    store.set_label(held.sha256, held.path, held.label, base_label=held.label,
                    source=DecisionSource.REVIEW_REQUEST, note="confusion-matrix cell")
    store.set_label(held.sha256, held.path, "Other", base_label=held.label)
    return store, held


@pytest.fixture(scope="module")
def corrected(relabelled_test_image, review_dataset, review_bundle, tmp_path_factory):
    """What the retrain job trains on: its own corrected-dataset step, run on the store."""
    from sem_core.jobs.events import EventLog
    from sem_core.jobs.state import RetrainRequest
    from sem_core.jobs.worker import _corrected_dataset

    store = relabelled_test_image[0]
    folder = tmp_path_factory.mktemp("heldout_job")
    request = RetrainRequest(data=str(review_dataset), base_bundle=str(review_bundle),
                             out=str(folder / "new"), labels=str(store.path))
    with EventLog(folder) as log:
        return _corrected_dataset(request, log)


def test_the_relabelled_test_image_stays_in_test_for_the_retrain(relabelled_test_image,
                                                                 corrected):
    held = relabelled_test_image[1]
    dataset, heldout = corrected
    (entry,) = [entry for entry in dataset.manifest.entries if entry.sha256 == held.sha256]
    assert (entry.split, entry.label) == ("Test", "Other")
    assert held.sha256 in heldout
    trained_on = {entry.sha256 for entry in dataset.manifest.entries
                  if entry.split in ("Train", "Validation")}
    assert held.sha256 not in trained_on
    assert [(item.sha256, item.split) for item in dataset.relabelled] == [(held.sha256, "Test")]


def test_the_comparison_reports_it_apart_from_the_headline(relabelled_test_image, corrected,
                                                           review_bundle):
    from sem_core.compare import compare_bundles

    held = relabelled_test_image[1]
    dataset, heldout = corrected
    result = compare_bundles(review_bundle, review_bundle, dataset.manifest, heldout=heldout)
    assert [(item.sha256, item.given_label, item.label) for item in result.relabelled] == [
        (held.sha256, held.label, "Other")]
    assert result.old.n_images == result.new.n_images == len(heldout) - 1
    assert result.relabelled_new.n_images == 1
