"""``SynthConfig.ease`` moves size, visibility and SNR toward the easy end and nothing else."""

import json

import numpy as np
import pytest

from sem_core.data.synth import SynthConfig, generate_clean_twin, generate_sample
from sem_core.data.synth.presets import preset_for
from sem_core.data.synth.sample import sample_parameters
from sem_core.data.synth.writer import write_dataset

INDICES = [i for i in range(1, 49) if i % 8]  # 42 defect images over every class
SNR_TOP = preset_for("standard").snr[1]


def _draws(ease: float) -> list:
    config = SynthConfig(size=64, ease=ease)
    return [sample_parameters(config, 5, 0, i) for i in INDICES]


def test_full_ease_pins_size_visibility_and_snr_and_keeps_the_scene():
    spec, easy = _draws(0.0), _draws(1.0)
    for before, after in zip(spec, easy, strict=True):
        assert after.hardness.z == pytest.approx(1.0)
        assert after.hardness.v == pytest.approx(1.0)
        assert after.imaging.snr == pytest.approx(SNR_TOP)
        assert after.scene == before.scene
        assert after.true_class == before.true_class
    assert min(d.hardness.z for d in spec) < 0.5, "the spec draws must not already be easy"


def test_partial_ease_moves_each_draw_that_fraction_of_the_way():
    for before, after in zip(_draws(0.0), _draws(0.5), strict=True):
        assert after.hardness.z == pytest.approx(before.hardness.z + 0.5 * (1 - before.hardness.z))
        assert after.hardness.v == pytest.approx(before.hardness.v + 0.5 * (1 - before.hardness.v))
        assert np.log(after.imaging.snr) == pytest.approx(
            0.5 * (np.log(before.imaging.snr) + np.log(SNR_TOP))
        )


def _defect_energy(config: SynthConfig, index: int) -> float:
    image = generate_sample(config, 5, 0, index).raw_image.astype(float)
    twin = generate_clean_twin(config, 5, 0, index).raw_image.astype(float)
    return float(np.sqrt(np.sum((image - twin) ** 2)))


def test_eased_defects_change_more_pixels_than_spec_ones():
    # in `hard`, where the visibility contract rarely redraws, so the draws ease moved decide
    indices = INDICES[:14]
    spec, easy = (
        [_defect_energy(SynthConfig(size=64, presentation=False, ease=ease, difficulty="hard"), i)
         for i in indices]
        for ease in (0.0, 1.0)
    )
    assert sum(e > s for e, s in zip(easy, spec, strict=True)) >= 0.75 * len(indices)
    assert np.median(easy) > 1.5 * np.median(spec)


def test_ease_out_of_range_is_refused_by_name():
    with pytest.raises(ValueError, match="ease"):
        SynthConfig(ease=1.5)


def test_the_dataset_records_its_ease(tmp_path):
    write_dataset(tmp_path, per_class=1, size=32, workers=1, progress=False, ease=0.25)
    assert json.loads((tmp_path / "dataset.json").read_text())["ease"] == 0.25
    sidecars = [p for p in tmp_path.rglob("*.json") if p.name != "dataset.json"]
    assert len(sidecars) == 8
    assert all(json.loads(p.read_text())["config"]["ease"] == 0.25 for p in sidecars)


def test_a_partial_open_via_is_most_visible_at_full_visibility():
    # `hard`: `standard` draws no partial-open landings in logic (spec B5 Vias, C6.7)
    config = SynthConfig(size=96, presentation=False, difficulty="hard")
    partial = [
        i
        for i in range(6, 8 * 60, 8)
        if generate_sample(config, 5, 0, i).sidecar.defect.get("subtype") == "partial"
    ][:3]
    assert partial, "seed 5 must hold partial-open vias in its first 60 Vias images"
    for index in partial:
        spec = _defect_energy(config, index)
        easy = _defect_energy(SynthConfig(size=96, presentation=False, difficulty="hard",
                                          ease=1.0), index)
        assert easy > spec, index
