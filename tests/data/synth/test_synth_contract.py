"""Difficulty presets (spec B6), the visibility contract (B7) and the ``standard`` rules (B5)."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from sem_core.classes import CLASSES, CLEAN
from sem_core.data.synth import SynthConfig, generate_sample
from sem_core.data.synth import sample as sample_module
from sem_core.data.synth.canvas import FieldGeometry, Material
from sem_core.data.synth.config import Family, Look, Magnification, View
from sem_core.data.synth.contract import MAX_TRIES
from sem_core.data.synth.defect_base import Hardness
from sem_core.data.synth.defects_lines import (
    MAX_EXTRUSION,
    MAX_KISS,
    MAX_NECK_FIELD,
    MAX_NECK_WIDTHS,
    bridge,
    short,
)
from sem_core.data.synth.defects_marks import crack, scratch
from sem_core.data.synth.defects_opens import MAX_LINES, OPEN_SPAN, open_line, shortest_tip_gap
from sem_core.data.synth.defects_other import foreign
from sem_core.data.synth.defects_section import (
    NOTCH_MIN_WIDTH,
    PAIR_AFTER,
    surface_notch,
    via_void,
)
from sem_core.data.synth.defects_vias import (
    ESCALATE_AFTER,
    FINE_VIA_RADIUS,
    MISALIGNED_RADIUS,
    MISALIGNED_STEP,
    via_defect,
)
from sem_core.data.synth.presets import PRESETS, preset_for
from sem_core.data.synth.render import render_patch, render_signal
from sem_core.data.synth.sample import generate_clean_twin, sample_parameters
from sem_core.data.synth.scene import add_sidewalls, build_scene
from sem_core.data.synth.sheet import OUTLINE, contact_sheet
from sem_core.data.synth.tools import presents
from sem_core.data.synth.writer import write_dataset

STANDARD = SynthConfig(size=96, presentation=False)
HARD = SynthConfig(size=96, presentation=False, difficulty="hard")
DEFECT_INDICES = [i for i in range(1, 33) if i % 8]


def test_one_seed_draws_the_same_uniforms_in_both_presets_and_standard_frames_a_close_up():
    for idx in range(16):
        standard, hard = (sample_parameters(c, 3, 0, idx) for c in (STANDARD, HARD))
        assert standard.scene.magnification == Magnification.HIGH
        assert standard.scene.tilt_deg == 0.0
        for name in ("duty", "ler_hurst", "ler_rho", "hex_lattice"):
            assert getattr(standard.scene, name) == getattr(hard.scene, name), name
        assert standard.true_class == hard.true_class
        assert standard.hardness.z == hard.hardness.z
        assert standard.presentation == hard.presentation
    assert {sample_parameters(HARD, 3, 0, i).scene.magnification for i in range(64)} == set(
        Magnification
    )


def test_standard_images_are_in_lens_raw_exports_and_hard_keeps_version_1s_mix():
    standard = [sample_parameters(SynthConfig(size=96), 5, 0, i) for i in range(64)]
    hard = [sample_parameters(SynthConfig(size=96, difficulty="hard"), 5, 0, i) for i in range(64)]
    assert all(d.imaging.detector_asymmetry == 0.0 for d in standard)
    assert all(0.9 <= d.imaging.tone_gamma <= 1.1 for d in standard)
    assert {d.scene.look.look for d in standard} == {Look.RESIST_ADI, Look.ETCHED_AEI}
    assert {d.scene.look.look for d in hard} == set(Look)
    assert any(d.imaging.detector_asymmetry > 0 for d in hard)
    assert any(d.scene.tilt_deg > 0 for d in hard)
    assert not presents(SynthConfig(size=96))
    assert presents(SynthConfig(size=96, difficulty="hard"))
    assert presents(SynthConfig(size=96, tool="b"))
    assert not presents(SynthConfig(size=96, difficulty="hard", presentation=False))


def test_presets_draw_visibility_and_snr_from_their_own_ranges():
    standard = [sample_parameters(STANDARD, 4, 0, i) for i in range(400)]
    hard = [sample_parameters(HARD, 4, 0, i) for i in range(400)]
    assert min(d.hardness.v for d in standard) >= 0.5
    assert all(4.0 <= d.imaging.snr <= 20.0 for d in standard)
    assert all(d.imaging.psf_sigma <= 1.8 for d in standard)
    low = np.mean([d.hardness.low_visibility for d in hard])
    assert 0.18 < low < 0.32, low
    assert min(d.imaging.snr for d in hard) < 4.0


def test_unknown_difficulty_is_refused_by_name():
    with pytest.raises(ValueError, match="difficulty"):
        SynthConfig(difficulty="easy")


def test_sidecar_records_the_contract_for_defects_and_nothing_for_clean():
    for idx in range(16):
        record = generate_sample(STANDARD, 8, 0, idx).sidecar.to_dict()
        assert record["config"]["difficulty"] == "standard"
        if record["label_true"] == CLEAN:
            assert record["d_prime"] is None and record["contract_met"] is None
            assert record["tries"] == 0
            continue
        assert 1 <= record["tries"] <= MAX_TRIES
        assert record["noise_sigma"] > 0
        if record["contract_met"]:
            preset = PRESETS[STANDARD.difficulty]
            assert record["d_prime"] >= preset.min_d_prime
            other = record["label_true"] == "Other"
            assert record["c_half"] >= (preset.min_c_half_other if other else preset.min_c_half)
        else:
            assert "contract_not_met" in record["hard_reasons"]


def test_others_blobs_must_stand_further_out_of_the_noise_than_other_defects():
    from sem_core.data.synth.contract import passes

    standard, hard = PRESETS[STANDARD.difficulty], PRESETS[HARD.difficulty]
    assert standard.min_c_half < 3.0 < standard.min_c_half_other
    assert passes(100.0, 3.0, 1000.0, standard, "Cracks")
    assert not passes(100.0, 3.0, 1000.0, standard, "Other")
    assert passes(100.0, standard.min_c_half_other, 1000.0, standard, "Other")
    assert passes(100.0, 1.0, 1000.0, hard, "Other")  # hard keeps version 1's single floor
    records = [generate_sample(STANDARD, 21, 0, i).sidecar.to_dict() for i in range(7, 8 * 12, 8)]
    assert {r["label_true"] for r in records} == {"Other"}
    assert all(r["c_half"] >= standard.min_c_half_other for r in records if r["contract_met"])


def test_most_standard_defects_meet_the_contract_on_the_first_tries():
    records = [generate_sample(STANDARD, 9, 0, i).sidecar.to_dict() for i in DEFECT_INDICES]
    assert np.mean([r["contract_met"] for r in records]) >= 0.9
    assert np.mean([r["tries"] for r in records]) < 4


def test_a_failed_try_redraws_the_defect_only_with_raised_hardness(monkeypatch):
    idx = 3
    first = generate_sample(STANDARD, 12, 0, idx).sidecar.to_dict()
    verdicts = iter([False, False, True])
    monkeypatch.setattr(sample_module, "passes", lambda *args: next(verdicts))
    redrawn = generate_sample(STANDARD, 12, 0, idx).sidecar.to_dict()
    assert redrawn["tries"] == 3 and redrawn["contract_met"] is True
    assert redrawn["v"] == pytest.approx(min(first["v"] + 0.2, 1.0))
    assert redrawn["z"] == pytest.approx(min(first["z"] + 0.2, 1.0))
    # the scene, imaging and presentation streams are never redrawn
    for part in ("scene", "imaging", "presentation", "label_true", "label_observed"):
        assert redrawn[part] == first[part], part
    assert redrawn["defect"] != first["defect"]


@pytest.mark.parametrize("config, twins_equal", [(STANDARD, True), (HARD, False)])
def test_standard_takes_dose_and_grey_scale_from_the_clean_scene(monkeypatch, config,
                                                                  twins_equal):
    # version 1 leaves the defect's surround (and the designed features in it) out of the grey
    # scale, so a wider influence region changes the twin; `standard` takes the clean scene's
    idx = 6  # a Vias image
    plain = generate_clean_twin(config, 14, 0, idx).image
    edit = sample_module.edit_scene

    def wide_reach(*args):
        rendered, footprint, record = edit(*args)
        return rendered, footprint, replace(record, params={**record.params, "reach": 30.0})

    monkeypatch.setattr(sample_module, "edit_scene", wide_reach)
    widened = generate_clean_twin(config, 14, 0, idx).image
    assert np.array_equal(plain, widened) is twins_equal


def test_standard_draws_every_class_in_line_space_as_often_and_hard_keeps_vias_out():
    def line_space_share(config, true_class):
        families = [sample_parameters(config, 5, 0, idx).scene.family
                    for idx in range(CLASSES.index(true_class), 8 * 150, 8)]
        return families.count(Family.LINE_SPACE) / len(families)

    assert 0.3 < line_space_share(STANDARD, "Vias") < 0.6
    assert abs(line_space_share(STANDARD, "Vias") - line_space_share(STANDARD, "Clean")) < 0.15
    assert line_space_share(HARD, "Vias") == 0.0


def test_standard_line_space_scenes_carry_a_landing_in_view_and_hard_ones_none():
    geometry = FieldGeometry(96, 2)
    checked = {"standard": 0, "hard": 0}
    for config, name in ((STANDARD, "standard"), (HARD, "hard")):
        for idx in range(0, 400, 8):
            draw = sample_parameters(config, 33, 0, idx)
            if draw.scene.view != View.TOP_DOWN or draw.scene.family != Family.LINE_SPACE:
                continue
            _, layout = build_scene(draw.streams.scene, draw.scene, geometry)
            in_view = [h for h in layout.vias if layout.in_field(h.a, h.b)]
            assert (len(in_view) >= 1) if name == "standard" else not layout.vias
            assert all(h.square for h in layout.vias)
            checked[name] += 1
    assert min(checked.values()) >= 5


def test_a_defect_that_never_passes_is_kept_and_tagged_hard(monkeypatch):
    monkeypatch.setattr(sample_module, "passes", lambda *args: False)
    record = generate_sample(STANDARD, 12, 0, 5).sidecar.to_dict()
    assert record["tries"] == MAX_TRIES and record["contract_met"] is False
    assert record["hard"] and "contract_not_met" in record["hard_reasons"]


def test_contract_met_images_show_their_defect_against_the_twin():
    for idx in DEFECT_INDICES[:7]:
        sample = generate_sample(STANDARD, 13, 0, idx)
        twin = sample_module.generate_clean_twin(STANDARD, 13, 0, idx)
        difference = np.abs(sample.raw_image.astype(float) - twin.raw_image.astype(float))
        record = sample.sidecar.to_dict()
        if record["contract_met"]:
            # C-half >= 2 sigma: the defect's brighter half stands out of the image noise
            assert difference[sample.raw_mask].max() > 2 * record["noise_sigma"]


def test_render_patch_equals_a_full_render():
    geometry = FieldGeometry(96, 2)
    for idx in DEFECT_INDICES[:10]:
        draw = sample_parameters(STANDARD, 14, 0, idx)
        clean, layout = build_scene(draw.streams.scene, draw.scene, geometry)
        from sem_core.data.synth.defects import edit_scene, mask_change

        _, footprint, _ = edit_scene(
            draw.streams.defect, draw.true_class, layout, clean, draw.hardness, 0.01
        )
        clean_final, edited = add_sidewalls(clean, layout), add_sidewalls(footprint, layout)
        changed, _ = mask_change(edited, clean_final)
        detector = (draw.imaging.detector_asymmetry, draw.imaging.detector_azimuth)
        base = render_signal(clean_final, draw.scene.look, geometry, layout.textures, detector)
        full = render_signal(edited, draw.scene.look, geometry, layout.textures, detector)
        patched = render_patch(
            edited, base, changed, draw.scene.look, geometry, layout.textures, detector
        )
        np.testing.assert_array_equal(patched, full)


# --- the `standard` rules of spec B5, one per class, on the editors directly ----------------


# the rules hold whatever the framing: drawn from every family, look and magnification
STANDARD_FULL = SynthConfig(size=96, presentation=False, tool="full")


def scenes(family=None, view=View.TOP_DOWN, look=None, count=40, seed=21):
    """(rng, layout, maps, hardness) of standard scenes matching the filters."""
    geometry, found = FieldGeometry(96, 2), []
    for idx in range(1, 4000):
        draw = sample_parameters(STANDARD_FULL, seed, 0, idx)
        scene = draw.scene
        if scene.view != view or (family and scene.family != family):
            continue
        if look and scene.look.look != look:
            continue
        maps, layout = build_scene(draw.streams.scene, scene, geometry)
        found.append((draw.streams.defect, layout, maps.copy(), draw.hardness))
        if len(found) == count:
            break
    assert found, "no scene matched"
    return found


def test_standard_bridges_keep_at_least_half_height():
    for rng, layout, maps, hardness in scenes(Family.LINE_SPACE, count=15):
        record = bridge(rng, layout, maps, hardness, 0.01)
        assert record.params["height_fraction"] >= 0.5


def test_standard_opens_are_shorter_than_any_designed_tip_gap():
    for rng, layout, maps, hardness in scenes(Family.LOGIC, count=15):
        record = open_line(rng, layout, maps, hardness, 0.01)
        if record is not None:
            assert record.params["gap_length"] < 0.5 * shortest_tip_gap(layout.lines)


def test_standard_shorts_in_voltage_contrast_always_show_a_connection():
    subtypes = {
        short(rng, layout, maps, hardness, 0.01).subtype
        for rng, layout, maps, hardness in scenes(look=Look.VC_MODE, count=30)
        if layout.lines
    }
    assert subtypes and "voltage_contrast" not in subtypes


def test_standard_cracks_are_at_least_a_pixel_wide():
    for rng, layout, maps, hardness in scenes(count=15):
        assert crack(rng, layout, maps, hardness, 0.01).params["width"] >= 1.0


def test_standard_scratches_are_never_faint():
    for rng, layout, maps, hardness in scenes(count=15):
        assert scratch(rng, layout, maps, hardness, 0.01).params["faint"] is False


def test_standard_vias_are_never_missing_in_logic():
    subtypes = [
        via_defect(rng, layout, maps, hardness, 0.01).subtype
        for rng, layout, maps, hardness in scenes(Family.LOGIC, count=60)
        if layout.vias
    ]
    assert len(subtypes) > 10 and "missing" not in subtypes


def _half_field(layout) -> float:
    return layout.geometry.size / (2 * layout.geometry.scale)


def test_standard_logic_via_defects_need_no_neighbour_to_be_seen():
    # blind review C6.7: partial, resized and misshapen lone landings read as Clean
    checked = 0
    for rng, layout, maps, hardness in scenes(Family.LOGIC, count=60, seed=26):
        if not layout.vias:
            continue
        record = via_defect(rng, layout, maps, hardness, 0.01)
        assert record.subtype in ("misaligned", "merged"), record.subtype
        if record.subtype == "misaligned":
            a, b = layout.transform.to_layout(np.array(record.x), np.array(record.y))
            x, y = layout.transform.to_field(float(a) + record.params["shift"], float(b))
            assert max(abs(x), abs(y)) <= _half_field(layout), "slipped out of view"
            checked += 1
    assert checked >= 10


def test_standard_section_scratches_are_wide_notches_clear_of_pads():
    checked = 0
    for rng, layout, maps, hardness in scenes(view=View.CROSS_SECTION, count=40, seed=27):
        record = surface_notch(rng, layout, maps, hardness, 0.01)
        if record is None:
            continue
        width = record.params["width"]
        assert width >= NOTCH_MIN_WIDTH
        for host in layout.sections:
            if host.kind in ("pad", "bump"):
                assert not host.x0 - 0.5 * width < record.x < host.x1 + 0.5 * width, record.x
        checked += 1
    assert checked >= 10


def test_standard_section_plugs_are_voided_never_missing_and_hard_still_misses_them():
    # plugs sit under some lines only, so a missing plug would be a designed absence
    kinds = {"standard": set(), "hard": set()}
    for rng, layout, maps, hardness in scenes(view=View.CROSS_SECTION, count=40, seed=31):
        for preset, boost in (("standard", 0), ("standard", PAIR_AFTER), ("hard", 0)):
            trial = replace(hardness, preset=preset_for(preset), boost=boost)
            record = via_void(np.random.default_rng(rng.integers(1 << 30)), layout, maps.copy(),
                              trial, 0.01)
            if record is not None:
                kinds[preset].add(record.subtype)
    assert kinds["standard"] == {"section_keyhole", "section_half_filled"}
    assert "section_missing" in kinds["hard"]


def test_an_escalated_section_via_leaves_two_plugs_unfilled():
    for rng, layout, maps, hardness in scenes(view=View.CROSS_SECTION, count=10, seed=32):
        plugs = [h for h in layout.sections if h.kind == "plug"]
        before = maps.topo.copy()
        record = via_void(rng, layout, maps, replace(hardness, boost=PAIR_AFTER), 0.01)
        if record is None or len(plugs) < 2:
            continue
        assert record.subtype == "section_half_filled"
        voided, count = ndimage.label(before & ~maps.topo)
        assert count >= 2, "the neighbouring plug is left unfilled too"
        return
    pytest.fail("no section with two plugs")


def test_standard_bridges_leave_the_space_open_on_both_sides():
    for rng, layout, maps, hardness in scenes(count=30, seed=28):
        if not layout.lines:
            continue
        record = bridge(rng, layout, maps, hardness, 0.01)
        if record is not None:
            field = 2 * _half_field(layout)
            assert record.params["neck_width"] <= MAX_NECK_FIELD * field + 1e-9
            # a neck no wider than a line: a wider one reads as a designed end of the space
            assert record.params["neck_width"] <= MAX_NECK_WIDTHS * layout.params.width + 1e-9
            assert record.params["kiss_amplitude"] <= MAX_KISS * layout.params.pitch
            assert record.params["kiss_spread"] <= 0.4 * MAX_NECK_FIELD * field + 1e-9


def _landings_kept(layout, maps, hardness) -> bool:
    """Whether a bridge drawn into a copy of this logic scene keeps every landing a hole in its
    line: no landing pixel changes and none comes to touch the space where its line held it."""
    before, maps = maps.material, maps.copy()
    if bridge(np.random.default_rng(0), layout, maps, hardness, 0.01) is None:
        return True
    holes = before == Material.VIA
    ring = ndimage.binary_dilation(holes) & ~holes & (before != Material.SUBSTRATE)
    return bool((maps.material[holes] == Material.VIA).all()
                and not (maps.material[ring] == Material.SUBSTRATE).any())


def test_standard_bridges_leave_landings_inside_their_lines():
    # blind review C6.7: a fillet that ate the thin rim of line around a landing opened the
    # landing into the space, and bridges in logic were read as slipped vias
    found = [found for found in scenes(Family.LOGIC, count=60, seed=29)
             if found[1].vias and not found[1].vias[0].raised]
    assert len(found) >= 10
    assert all(_landings_kept(layout, maps, hardness) for _, layout, maps, hardness in found)
    # the check can fail: version 1's bridges (`hard`) still open some landings
    assert not all(_landings_kept(layout, maps, replace(hardness, preset=PRESETS["hard"]))
                   for _, layout, maps, hardness in found)


def test_standard_shorts_are_narrow_extrusions_or_short_stringers():
    # blind review C6.7: wide bright blobs read as particles, long filaments as scratches
    kinds = set()
    for rng, layout, maps, hardness in scenes(Family.LINE_SPACE, count=40, seed=29):
        record = short(rng, layout, maps, hardness, 0.01)
        if record is None:
            continue
        kinds.add(record.subtype)
        if record.subtype == "extrusion":
            assert record.params["extent"] <= MAX_EXTRUSION * layout.params.pitch
        else:
            assert record.params["spans"] <= 2
    assert kinds == {"extrusion", "stringer"}


def test_standard_opens_at_a_fine_pitch_cut_enough_lines_to_span_the_floor():
    checked = 0
    for rng, layout, maps, hardness in scenes(Family.LINE_SPACE, count=40, seed=23):
        record = open_line(rng, layout, maps, hardness, 0.01)
        wanted = min(math.ceil(OPEN_SPAN / layout.params.pitch), MAX_LINES)
        if record is not None and wanted > 1:
            # fewer only where the field has no run of that many neighbouring lines
            assert record.params["lines"] >= min(wanted, len(layout.lines))
            checked += 1
    assert checked >= 5


def test_standard_small_vias_are_malformed_as_a_cluster():
    counts = [
        via_defect(rng, layout, maps, hardness, 0.01).params["count"]
        for rng, layout, maps, hardness in scenes(Family.VIA_ARRAY, count=80, seed=24)
        if layout.vias and min(h.radius for h in layout.vias) < FINE_VIA_RADIUS
        and max(h.radius for h in layout.vias) < FINE_VIA_RADIUS
    ]
    assert len(counts) >= 5 and min(counts) >= 2


def test_standard_misaligned_landings_stand_apart_from_the_dielectric():
    # the escalation of failed contract tries in logic: a slipped landing that a plug as bright
    # as the dielectric, a hole as dark or a landing of a pixel would leave invisible
    checked = 0
    for rng, layout, maps, hardness in scenes(Family.LOGIC, count=60, seed=25):
        if not layout.vias:
            continue
        record = via_defect(rng, layout, maps, replace(hardness, boost=ESCALATE_AFTER), 0.01)
        if record is None or record.subtype != "misaligned":
            continue
        checked += 1
        look = layout.params.look
        assert record.params["drawn_radius"] >= MISALIGNED_RADIUS
        apart = abs(record.params["level"] - look.substrate)
        assert apart >= MISALIGNED_STEP * abs(look.contrast) - 1e-9 or record.params["level"] == 0
    assert checked >= 5


def test_standard_particles_touch_one_line_at_most_and_carry_halo_and_shadow():
    checked = 0
    for rng, layout, maps, hardness in scenes(Family.LINE_SPACE, count=80, seed=22):
        clean_topo = maps.topo.copy()
        record = foreign(rng, layout, maps, hardness, 0.01)
        if record.subtype != "particle":
            continue
        checked += 1
        assert abs(record.params["halo"]) >= 0.05 and record.params["shadow"] >= 0.05
        body = maps.material == Material.FOREIGN
        labels, _ = ndimage.label(clean_topo)
        touched = np.unique(labels[ndimage.binary_dilation(body) & (labels > 0)])
        assert touched.size <= 1, record.params
    assert checked >= 5


def test_standard_residue_is_opaque_and_contrasted_enough():
    for rng, layout, maps, hardness in scenes(count=120, seed=23):
        record = foreign(rng, layout, maps, hardness, 0.01)
        if record.subtype == "residue":
            assert record.params["alpha"] >= 0.5
            assert abs(record.params["contrast"]) >= 0.1 * hardness.v - 1e-12


def test_hard_keeps_version_one_look_alikes():
    # the rules are `standard` only: `hard` still draws faint scratches
    faint = [
        scratch(rng, layout, maps, Hardness(hardness.z, hardness.v, False, preset_for("hard")),
                0.01).params["faint"]
        for rng, layout, maps, hardness in scenes(count=30, seed=24)
    ]
    assert any(faint)


def test_sheet_shows_each_image_plain_and_outlined(tmp_path):
    path = contact_sheet(tmp_path / "sheet.png", seed=3, size=48, per_class=1, presentation=False)
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"))
    outline = np.all(pixels == np.array(OUTLINE), axis=-1)
    assert outline.sum() > 20  # the defect rows carry outlines
    assert pixels.shape[0] >= len(CLASSES) * 48


def test_dataset_json_and_sidecars_record_the_preset(tmp_path):
    result = write_dataset(tmp_path / "d", per_class=1, size=32, seed=2, workers=1,
                           progress=False, difficulty="hard")
    meta = json.loads((result.out_dir / "dataset.json").read_text())
    assert meta["difficulty"] == "hard" and meta["generator_version"].startswith("synth-sem 2.")
    sidecar = next((result.out_dir / "annotations").rglob("*.json"))
    assert json.loads(sidecar.read_text())["config"]["difficulty"] == "hard"
