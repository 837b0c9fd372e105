"""Evaluation and prediction plumbing over a real (untrained) bundle and a tiny labelled set."""

import json

import numpy as np
import pytest
from PIL import Image

from bundle_fixtures import make_untrained_bundle
from sem_core.classes import CLASSES
from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.evaluation import evaluate_bundle
from sem_core.inference import predict, results_frame
from sem_core.registry import load_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return load_bundle(make_untrained_bundle(tmp_path_factory.mktemp("bundles") / "untrained"))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(0)
    entries = []
    for index, label in enumerate(CLASSES * 2 + ("Clean", "Clean")):
        name = f"{label}_{index}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(root / name)
        entries.append(ManifestEntry(path=name, label=label, split="Test"))
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    entries.append(ManifestEntry(path="corrupt.png", label="Vias", split="Test"))
    entries.append(ManifestEntry(path=f"{CLASSES[1]}_1.png", label="Bridges", split="Train"))
    return Manifest(entries=tuple(entries), root=str(root))


def test_evaluate_split_scores_every_decoded_image_and_reports_bad_ones(bundle, labelled):
    run = evaluate_bundle(bundle, labelled, split="Test", batch_size=5)
    assert len(run.predictions) == 19 and run.n_errors == 1
    bad = run.predictions[run.predictions["error"].notna()]
    assert bad["path"].iloc[0].endswith("corrupt.png")
    report = json.loads(run.report.to_json())
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "stage1", "n_images"):
        assert key in report
    assert report["n_images"] == 18
    matrix = np.array(report["confusion_matrix"]["matrix"])
    supports = [report["per_class"][name]["support"] for name in report["confusion_matrix"]["labels"]]
    assert matrix.sum(axis=1).tolist() == supports
    assert dict(zip(report["confusion_matrix"]["labels"], supports))["Clean"] == 4
    # The report's diagonal is what the per-image table says.
    good = run.predictions[run.predictions["error"].isna()]
    assert int(np.trace(matrix)) == int((good["label"] == good["final_label"]).sum())


def test_unknown_split_and_foreign_labels_are_clear_errors(bundle, labelled):
    with pytest.raises(ValueError, match="no images in split 'Validation'"):
        evaluate_bundle(bundle, labelled, split="Validation")
    foreign = Manifest(entries=(ManifestEntry(path="x.png", label="Defective", split="Test"),),
                       root=labelled.root)
    with pytest.raises(ValueError, match="not classes of bundle"):
        evaluate_bundle(bundle, foreign)


def test_predict_folder_gives_one_row_per_file(bundle, labelled):
    results = predict(bundle, labelled.root, batch_size=8)
    frame = results_frame(results)
    assert len(frame) == 19
    ok = frame[frame["error"].isna()]
    assert set(ok["final_label"]) <= set(CLASSES)
    assert np.allclose(ok[[f"prob_{name}" for name in CLASSES]].sum(axis=1), 1.0, atol=1e-5)
