"""Tool profiles (``SynthConfig.tool``): two tools' narrower mixes for domain-shift benchmarks."""

import json

import numpy as np
import pytest

from sem_core.data.synth import Look, SynthConfig, View, generate_sample
from sem_core.data.synth.presets import preset_for
from sem_core.data.synth.sample import sample_parameters
from sem_core.data.synth.scene_params import sample_look
from sem_core.data.synth.tools import TOOLS, span
from sem_core.data.synth.writer import write_dataset

INDICES = range(48)  # six of every class
STANDARD = preset_for("standard")


def _draws(tool: str) -> list:
    config = SynthConfig(size=64, tool=tool)
    return [sample_parameters(config, 7, 0, index) for index in INDICES]


def test_full_is_the_whole_mix_and_the_default_tool_leaves_it_to_the_preset():
    draws = _draws("full")
    assert SynthConfig().tool == "mixed"
    assert len({draw.scene.look.look for draw in draws}) == len(Look)
    assert {draw.scene.view for draw in draws} == set(View)
    for index in INDICES[:16]:
        hard_mixed, hard_full = (
            sample_parameters(SynthConfig(size=64, difficulty="hard", tool=tool), 7, 0, index)
            for tool in ("mixed", "full")
        )
        assert hard_mixed.scene == hard_full.scene and hard_mixed.imaging == hard_full.imaging
    assert {draw.scene.view for draw in _draws("mixed")} != set(View), "standard's framing"


def test_tool_a_is_an_in_lens_cd_sem_on_resist_and_etched_patterns():
    snr_floor = span(*STANDARD.snr, TOOLS["a"].snr_span)[0]
    for draw in _draws("a"):
        assert draw.scene.look.look in (Look.RESIST_ADI, Look.ETCHED_AEI)
        assert draw.scene.view != View.BLANKET
        assert draw.scene.tilt_deg == 0.0
        assert draw.imaging.detector_asymmetry == 0.0
        assert snr_floor - 1e-9 <= draw.imaging.snr <= STANDARD.snr[1] + 1e-9
        assert 0.9 <= draw.imaging.tone_gamma <= 1.1


def test_tool_b_sees_metal_and_voltage_contrast_with_a_side_detector():
    draws = _draws("b")
    snr_ceiling = span(*STANDARD.snr, TOOLS["b"].snr_span)[1]
    for draw in draws:
        assert draw.scene.look.look in (Look.METAL_CMP, Look.VC_MODE)
        assert draw.imaging.snr <= snr_ceiling + 1e-9
        assert draw.imaging.snr >= STANDARD.snr[0] - 1e-9, "the preset's SNR floor still holds"
        assert draw.imaging.tone_gamma < 0.8 + 1e-9
    assert all(draw.imaging.detector_asymmetry > 0 for draw in draws)
    assert any(draw.scene.tilt_deg > 0 for draw in draws)


def test_every_class_keeps_its_host_patterns_in_both_tools():
    for tool in ("a", "b"):
        for draw in _draws(tool):
            if draw.true_class in ("Bridges", "Opens", "Shorts") and draw.scene.view == View.TOP_DOWN:
                assert draw.scene.family.value in ("line_space", "logic"), (tool, draw.true_class)
            if draw.true_class == "Vias" and draw.scene.view == View.TOP_DOWN:
                assert draw.scene.family.value in ("via_array", "logic"), tool


def test_tool_a_images_leave_the_tool_without_presentation():
    config = SynthConfig(size=64, tool="a")
    for index in range(8):
        sample = generate_sample(config, 7, 0, index)
        assert sample.sidecar.bbox == sample.sidecar.raw_bbox
        assert sample.sidecar.config["tool"] == "a"
        assert sample.image.shape == sample.raw_image.shape


def test_an_unknown_tool_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="mixed, full, a, b.*tool=c"):
        SynthConfig(tool="c")


def test_the_dataset_records_its_tool(tmp_path):
    write_dataset(tmp_path / "b", per_class=1, size=48, seed=3, workers=1, progress=False,
                  tool="b")
    assert json.loads((tmp_path / "b" / "dataset.json").read_text())["tool"] == "b"


def test_standard_never_inverts_the_tone_and_hard_keeps_the_specs_share():
    """With the tone inverted, a bridge between dark lines and a break in a bright line are the
    same picture, so ``standard`` draws the pattern brighter than its surround in every tool
    but ``full`` (the whole specification); ``hard`` keeps spec B2's 0.2."""
    def share(**config) -> float:
        draws = [sample_parameters(SynthConfig(size=64, **config), 11, 0, index)
                 for index in range(400)]
        return sum(draw.scene.look.contrast < 0 for draw in draws) / len(draws)

    for tool in ("mixed", "a", "b"):
        assert share(tool=tool) == 0.0, tool
    assert 0.12 < share(difficulty="hard") < 0.28
    assert 0.12 < share(tool="full") < 0.28


def test_the_tone_rule_changes_only_the_sign_of_the_step_and_no_later_draw():
    upright, inverted = (np.random.default_rng(5), np.random.default_rng(5))
    look_up = sample_look(upright, inverted_rate=0.0)
    look_inverted = sample_look(inverted, inverted_rate=1.0)
    assert look_up.contrast == pytest.approx(-look_inverted.contrast) and look_up.contrast > 0
    assert (look_up.substrate, look_up.top) == (look_inverted.top, look_inverted.substrate)
    assert look_up.bloom_in == look_inverted.bloom_in and look_up.hole == look_inverted.hole
    assert upright.random() == inverted.random(), "the stream stays aligned"
