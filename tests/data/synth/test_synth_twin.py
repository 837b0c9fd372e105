"""The clean twin of a defect image differs from it only inside the dilated defect mask."""

import numpy as np
import pytest
from scipy import ndimage

from sem_core.data.synth import SynthConfig, generate_clean_twin, generate_sample
from sem_core.data.synth.formats import Resolution, present_mask

CONFIG = SynthConfig(size=64, tool="full")  # every view and the presentation layer
INDICES = [i for i in range(1, 97) if i % 8]  # 84 defect images over every class


@pytest.fixture(scope="module")
def pairs():
    return [
        (generate_sample(CONFIG, 21, 1, i), generate_clean_twin(CONFIG, 21, 1, i)) for i in INDICES
    ]


def test_twin_differs_only_inside_the_dilated_mask(pairs):
    for sample, twin in pairs:
        outside = (sample.raw_image != twin.raw_image) & ~sample.influence
        assert not outside.any(), (sample.sidecar.seeds, sample.sidecar.defect)


def test_twin_covers_every_class_and_view(pairs):
    classes = {sample.sidecar.label_true for sample, _ in pairs}
    views = {sample.sidecar.scene["view"] for sample, _ in pairs}
    assert len(classes) == 7 and views == {"top_down", "cross_section", "blanket"}


def test_defect_is_visible_and_mask_is_local(pairs):
    differing = [np.any(s.raw_image != t.raw_image) for s, t in pairs]
    assert np.mean(differing) > 0.9
    influence = np.mean([s.influence.mean() for s, _ in pairs])
    assert influence < 0.5, "the dilated mask must stay local on average"
    for sample, _ in pairs:
        assert sample.raw_mask.sum() <= sample.influence.sum()
        assert not (sample.raw_mask & ~sample.influence).any()


def test_presented_twin_differs_only_near_the_moved_mask(pairs):
    for sample, twin in pairs:
        params = sample.presentation
        reach = 2
        if params.resolution.mode != Resolution.FULL:
            reach += 3 * round(params.size / max(params.resolution.source_size, 1))
        if params.jpeg.enabled:
            reach += 16
        zone = present_mask(sample.influence, params)
        zone = ndimage.binary_dilation(zone, iterations=reach) if zone.any() else zone
        outside = (sample.image != twin.image) & ~zone
        assert not outside.any(), (sample.sidecar.seeds, outside.sum())


def test_clean_image_is_its_own_twin():
    sample, twin = generate_sample(CONFIG, 3, 0, 8), generate_clean_twin(CONFIG, 3, 0, 8)
    assert np.array_equal(sample.image, twin.image) and not sample.mask.any()
