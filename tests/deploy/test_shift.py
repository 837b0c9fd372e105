"""The domain-shift check: a reference of training features, a calibrated threshold, a verdict."""

import json

import numpy as np
import pytest
from bundle_fixtures import write_tiny_dataset
from deploy_helpers import make_responsive_bundle
from PIL import Image

from sem_core.cli import main
from sem_core.shift import (
    MIN_IMAGES,
    REFERENCE_FILE,
    ShiftError,
    batch_distance,
    check_shift,
    fit_shift_reference,
    load_reference,
    save_reference,
)


def _features(rng, count, shift=0.0, width=40):
    """Correlated features like pooled activations: a shared factor plus per-feature noise."""
    common = rng.normal(size=(count, 1))
    return 3.0 + common + rng.normal(size=(count, width)) + shift


def test_threshold_lets_in_domain_batches_through_and_stops_shifted_ones():
    rng = np.random.default_rng(0)
    reference = fit_shift_reference(_features(rng, 2000), _features(rng, 400))
    in_domain = [check_shift(_features(rng, 32), reference).shifted for _ in range(200)]
    # Every feature moved by about its spread (another tool's tone and noise move pooled
    # features by several); a shift along the features' shared variation is the hardest to see.
    shifted = [check_shift(_features(rng, 32, shift=1.5), reference).shifted for _ in range(200)]
    assert np.mean(in_domain) <= 0.05
    assert np.mean(shifted) >= 0.95
    # D does not grow with the batch for in-domain images (it is in standard errors).
    small = np.median([batch_distance(_features(rng, 8), reference) for _ in range(100)])
    large = np.median([batch_distance(_features(rng, 128), reference) for _ in range(100)])
    assert 0.5 < small / large < 2.0


def test_too_few_images_are_not_judged_and_bad_inputs_are_refused(tmp_path):
    rng = np.random.default_rng(1)
    reference = fit_shift_reference(_features(rng, 200), _features(rng, 100))
    verdict = check_shift(_features(rng, MIN_IMAGES - 1, shift=5.0), reference)
    assert verdict.distance is None and not verdict.shifted and "too few" in verdict.describe()
    with pytest.raises(ShiftError, match="another bundle"):
        batch_distance(_features(rng, 10, width=12), reference)
    with pytest.raises(ShiftError, match="calibration images"):
        fit_shift_reference(_features(rng, 200), _features(rng, 20))
    # Saved beside the models, never over an earlier reference, read back the same.
    path = save_reference(tmp_path, reference)
    with pytest.raises(FileExistsError):
        save_reference(tmp_path, reference)
    again = load_reference(tmp_path)
    np.testing.assert_array_equal(again.mean, reference.mean)
    assert again.threshold == reference.threshold
    path.write_text(json.dumps({"mean": [1.0], "scale": [0.0]}))
    with pytest.raises(ShiftError, match="malformed"):
        load_reference(tmp_path)
    assert load_reference(tmp_path / "elsewhere") is None


@pytest.mark.slow  # builds a tiny bundle and embeds a few hundred 32-px images
def test_shift_commands_store_a_reference_and_flag_another_tools_images(tmp_path, capsys):
    data = write_tiny_dataset(tmp_path / "data", {"Train": 12, "Validation": 10, "Test": 6},
                              seed=5)
    bundle = make_responsive_bundle(tmp_path / "bundle", data)
    before = {path.name: path.read_bytes() for path in bundle.iterdir() if path.is_file()}
    assert main(["shift-check", "--bundle", str(bundle), "--input", str(data / "Test")]) == 2
    assert "no shift reference" in capsys.readouterr().err
    assert main(["shift-reference", "--bundle", str(bundle)]) == 0
    assert (bundle / REFERENCE_FILE).exists()
    assert {path.name: path.read_bytes() for path in bundle.iterdir() if path.is_file()} == before
    assert main(["shift-reference", "--bundle", str(bundle)]) == 2  # never overwritten
    # a bundle trained on several datasets: Train drawn evenly from each, every Validation image
    more = write_tiny_dataset(tmp_path / "more", {"Train": 12, "Validation": 10}, seed=6)
    assert main(["shift-reference", "--bundle", str(bundle), "--data", str(data), str(more),
                 "--reference-images", "60", "--overwrite"]) == 0
    both = load_reference(bundle)
    assert (both.reference_images, both.calibration_images) == (60, 2 * 8 * 10)
    capsys.readouterr()
    # New images of the training tool pass; the same scenes from a "tool" with another tone
    # curve and more noise are flagged; an unreadable file is named and skipped.
    assert main(["shift-check", "--bundle", str(bundle), "--input", str(data / "Test")]) == 0
    other = tmp_path / "other_tool"
    other.mkdir()
    rng = np.random.default_rng(0)
    for path in sorted((data / "Test").rglob("*.png")):
        grey = np.asarray(Image.open(path), dtype=np.float64)
        toned = 255.0 * (grey / 255.0) ** 0.5 + rng.normal(0, 12, grey.shape)
        Image.fromarray(np.clip(toned, 0, 255).astype(np.uint8)).save(other / path.name)
    (other / "broken.png").write_bytes(b"not a png")
    capsys.readouterr()
    assert main(["shift-check", "--bundle", str(bundle), "--input", str(other)]) == 3
    captured = capsys.readouterr()
    assert "unlike the images the model was trained on" in captured.out
    assert "broken.png" in captured.err


def test_one_odd_image_does_not_make_an_in_domain_batch_look_shifted(tmp_path):
    rng = np.random.default_rng(3)
    reference = fit_shift_reference(_features(rng, 2000), _features(rng, 400))
    batch = _features(rng, 32)
    batch[0] += 40.0  # one image far out in every feature, as single odd renders were
    assert not check_shift(batch, reference).shifted
    # Read the old way (a reference written before clipping), the same batch is called shifted.
    record = reference.to_dict()
    for key in ("clip", "clipped_mean"):
        record.pop(key)
    (tmp_path / "old.json").write_text(json.dumps(record))
    from sem_core.shift import ShiftReference

    old = ShiftReference.from_dict(json.loads((tmp_path / "old.json").read_text()))
    assert old.clip is None and check_shift(batch, old).shifted


def test_each_block_weighs_equally_so_a_narrow_block_that_moved_is_not_drowned():
    # 400 features that do not see the tool (as fine-tuned pooled features) beside 20 that do
    # (a middle-depth block): the 20 moved by 0.3 of their spread.
    rng = np.random.default_rng(4)
    blocks = (("pooled", 400), ("middle", 20))

    def batch(count, shift=0.0):
        features = rng.normal(size=(count, 420))
        features[:, 400:] += shift
        return features

    train, held_out = batch(2000), batch(400)
    weighed = fit_shift_reference(train, held_out, blocks=blocks)
    pooled_together = fit_shift_reference(train, held_out)
    for reference, least, most in ((weighed, 0.95, 1.0), (pooled_together, 0.0, 0.3)):
        shifted = np.mean([check_shift(batch(32, 0.3), reference).shifted for _ in range(200)])
        in_domain = np.mean([check_shift(batch(32), reference).shifted for _ in range(200)])
        assert least <= shifted <= most and in_domain <= 0.05


def test_blocks_are_saved_checked_and_name_their_statistics(tmp_path):
    from sem_core.shift import ShiftReference

    rng = np.random.default_rng(5)
    blocks = (("stage1", 6), ("stage2", 4), ("stage2:block3_add", 2))
    reference = fit_shift_reference(rng.normal(size=(300, 12)), rng.normal(size=(100, 12)),
                                    blocks=blocks)
    save_reference(tmp_path, reference)
    again = load_reference(tmp_path)
    assert again.blocks == blocks and again.threshold == reference.threshold
    # coral reads the pooled features' statistics, stage 1 then stage 2
    mean, scale = again.statistics_of(("stage1", "stage2"))
    np.testing.assert_array_equal(mean, reference.mean[:10])
    np.testing.assert_array_equal(scale, reference.scale[:10])
    with pytest.raises(ShiftError, match="no block stage3"):
        again.statistics_of(("stage3",))
    with pytest.raises(ShiftError, match="do not cover"):
        fit_shift_reference(rng.normal(size=(300, 12)), rng.normal(size=(100, 12)),
                            blocks=(("stage1", 6), ("stage2", 5)))
    record = reference.to_dict()
    record["blocks"] = [["stage1", 6], ["stage2", 7]]
    with pytest.raises(ShiftError, match="do not cover"):
        ShiftReference.from_dict(record)
    # a reference written before blocks is one block and gives all of its statistics
    record = reference.to_dict()
    record.pop("blocks")
    old = ShiftReference.from_dict(record)
    assert old.blocks is None and old.statistics_of(("stage1", "stage2"))[0].shape == (12,)
