"""The bundle's temperatures (and stage 1's bias) reach every probability the cascade reports;
old bundles do not move."""

import numpy as np
import pandas as pd
import pytest
from bundle_fixtures import as_schema1, copy_with_bundle_json, make_untrained_bundle
from PIL import Image

from sem_core.classes import CLASSES, STAGE2_CLASSES
from sem_core.cli import main
from sem_core.data.image_io import load_image
from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.evaluation import evaluate_bundle
from sem_core.inference import predict
from sem_core.metrics.temperature import apply_sigmoid_temperature, apply_softmax_temperature
from sem_core.models.preprocessing import prepare_batch
from sem_core.registry import BundleError, load_bundle, read_bundle_info

T1, T2, B1 = 2.5, 0.4, 0.8


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    return make_untrained_bundle(tmp_path_factory.mktemp("calibrated") / "original")


@pytest.fixture(scope="module")
def scaled(original, tmp_path_factory):
    """The same models with temperatures; threshold 0 sends every image to stage 2."""
    def edit(data):
        data.update(stage1_temperature=T1, stage2_temperature=T2, stage1_bias=B1,
                    stage1_threshold=0.0)
    return copy_with_bundle_json(original, tmp_path_factory.mktemp("calibrated") / "scaled", edit)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibrated_images")
    rng = np.random.default_rng(4)
    for index in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(folder / f"i{index}.png")
    return sorted(folder.glob("*.png"))


def _raw(bundle, paths):
    loaded = load_bundle(bundle)
    batch = prepare_batch([load_image(path).pixels for path in paths], loaded.info.input_size)
    return (np.asarray(loaded.stage1.predict_on_batch(batch), np.float64).reshape(-1),
            np.asarray(loaded.stage2.predict_on_batch(batch), np.float64))


def test_a_bundle_without_temperatures_predicts_exactly_the_models_outputs(original, images,
                                                                         tmp_path):
    old = copy_with_bundle_json(original, tmp_path / "old", as_schema1)
    info = read_bundle_info(old)
    assert (info.stage1_temperature, info.stage2_temperature) == (1.0, 1.0)
    results = predict(old, images, stage1_threshold=0.0)
    p1, p2 = _raw(old, images)
    assert [result.stage1_probability for result in results] == p1.tolist()
    assert [list(result.stage2_probabilities) for result in results] == p2.tolist()


def test_the_predict_command_reports_probabilities_scaled_by_the_bundle(scaled, images, tmp_path):
    out = tmp_path / "results.csv"
    assert main(["predict", "--bundle", str(scaled), "--input", *map(str, images),
                 "--out", str(out)]) == 0
    rows = pd.read_csv(out).sort_values("source")
    p1, p2 = _raw(scaled, images)
    expected2 = apply_softmax_temperature(p2, T2)
    np.testing.assert_allclose(rows["stage1_probability"], apply_sigmoid_temperature(p1, T1, B1),
                               atol=1e-9)
    np.testing.assert_allclose(rows[[f"p_{name}" for name in STAGE2_CLASSES]], expected2, atol=1e-9)
    np.testing.assert_allclose(rows["confidence"], expected2.max(axis=1), atol=1e-9)
    # it did move (the untrained stage 2 is uniform at 32 px, so stage 1 shows it; stage 2's
    # scaling of unequal rows is checked with stub stages below)
    assert not np.allclose(rows["stage1_probability"], p1, atol=1e-3)


def test_the_cascade_scales_both_stages_before_deciding_and_reporting():
    from sem_core.cascade import Cascade, CascadeConfig

    raw1 = np.array([0.9, 0.2])
    raw2 = np.array([[0.6, 0.3, 0.1, 0, 0, 0, 0]] * 2, np.float32)
    config = CascadeConfig(stage1_threshold=0.5, image_size=8, stage1_temperature=T1,
                           stage2_temperature=T2, stage1_bias=-0.5)
    results = list(Cascade(lambda batch: raw1[:len(batch)], lambda batch: raw2[:len(batch)],
                           config).run(iter_arrays(2)))
    p1 = apply_sigmoid_temperature(raw1, T1, -0.5)
    assert p1[0] > 0.5 > p1[1]
    p2 = apply_softmax_temperature(raw2[:1], T2)[0]
    assert [result.stage1_probability for result in results] == pytest.approx(p1.tolist())
    assert results[0].confidence == pytest.approx(p2.max()) and p2.max() > 0.6 + 0.2
    assert results[0].final_probabilities[1] == pytest.approx(p1[0] * p2[0])
    assert results[1].final_label == "Clean" and results[1].confidence == pytest.approx(1 - p1[1])


def test_a_bundles_cascade_configuration_carries_its_whole_calibration(scaled):
    from sem_core.cascade import CascadeConfig

    info = read_bundle_info(scaled)
    config = CascadeConfig.for_bundle(info, review_threshold=0.7)
    scaling = (config.stage1_temperature, config.stage2_temperature, config.stage1_bias)
    assert scaling == (T1, T2, B1)
    assert (config.stage1_threshold, config.image_size, config.review_threshold) == (
        info.stage1_threshold, info.input_size, 0.7)
    assert CascadeConfig.for_bundle(info, 0.25).stage1_threshold == 0.25


def iter_arrays(count):
    from sem_core.data.sources import iter_sources

    return iter_sources([np.full((8, 8), 0.5, np.float32)] * count)


def test_a_temperature_that_is_not_positive_is_refused_naming_the_field(original, tmp_path):
    broken = copy_with_bundle_json(original, tmp_path / "broken",
                                   lambda data: data.update(stage2_temperature=0))
    with pytest.raises(BundleError, match="stage2_temperature must be a number above 0"):
        read_bundle_info(broken)
    biased = copy_with_bundle_json(original, tmp_path / "biased",
                                   lambda data: data.update(stage1_bias="high"))
    with pytest.raises(BundleError, match="stage1_bias must be a finite number"):
        read_bundle_info(biased)


def test_evaluate_reports_the_ece_the_unscaled_bundle_has_as_before(original, tmp_path, images):
    rng = np.random.default_rng(5)
    entries = []
    for index, label in enumerate(CLASSES * 2):
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(tmp_path / f"{index}.png")
        entries.append(ManifestEntry(path=f"{index}.png", label=label, split="Test"))
    manifest = Manifest(entries=tuple(entries), root=str(tmp_path))
    # threshold 0.5 is its own image under any stage-1 temperature: the same images pass
    hot = copy_with_bundle_json(original, tmp_path / "hot", lambda data: data.update(
        stage1_temperature=T1, stage2_temperature=T2))
    plain = evaluate_bundle(load_bundle(original), manifest).report
    scaled = evaluate_bundle(load_bundle(hot), manifest).report
    assert plain.scaling.final_ece_before == pytest.approx(plain.scaling.final_ece_after)
    assert scaled.scaling.final_ece_before == pytest.approx(plain.calibration.ece, abs=1e-9)
    assert scaled.scaling.stage1_ece_before == pytest.approx(plain.stage1.calibration.ece, abs=1e-9)
    assert plain.scaling.stage2_ece_before == pytest.approx(plain.scaling.stage2_ece_after)
    assert scaled.scaling.stage2_ece_before == pytest.approx(plain.scaling.stage2_ece_after,
                                                             abs=1e-6)
    assert scaled.scaling.final_ece_after == scaled.calibration.ece
    assert scaled.scaling.stage1_temperature == T1
    # a bias moves the stage-1 scores too; evaluate undoes it exactly for the "before" figure
    shifted = copy_with_bundle_json(original, tmp_path / "shifted", lambda data: data.update(
        stage1_temperature=T1, stage1_bias=B1))
    moved = evaluate_bundle(load_bundle(shifted), manifest).report
    assert moved.scaling.stage1_bias == B1
    assert moved.scaling.stage1_ece_before == pytest.approx(plain.stage1.calibration.ece, abs=1e-9)
    assert "temperature_scaling" in scaled.to_dict()
