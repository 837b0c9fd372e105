"""Every section-4 nuisance appears in every class at the same rate (spec C1, section 4).

The parameter stage (``sample_parameters``, the same code ``generate_sample`` starts from) is
cheap, so rates are measured over 1500 images per class; a rate may differ from the pooled rate
by at most 4.5 points (more than 4 binomial standard deviations at p = 0.5).
"""

import numpy as np
import pytest

from sem_core.classes import CLASSES
from sem_core.data.synth import SynthConfig
from sem_core.data.synth.formats import FileFormat, Resolution
from sem_core.data.synth.sample import sample_parameters

PER_CLASS = 1500
TOLERANCE = 0.045


def nuisances(draw) -> dict[str, bool]:
    scene, presentation, imaging = draw.scene, draw.presentation, draw.imaging
    notes = presentation.annotations
    flags = {f"view:{v}": scene.view.value == v for v in ("top_down", "cross_section", "blanket")}
    flags.update(
        {
            f"look:{look}": scene.look.look.value == look
            for look in ("resist_adi", "etched_aei", "metal_cmp", "vc_mode")
        }
    )
    flags.update(
        {f"magnification:{m}": scene.magnification.value == m for m in ("low", "normal", "high")}
    )
    flags.update(
        {
            "tilted": scene.tilt_deg > 0,
            "inverted": scene.look.contrast < 0,
            "scale_bar": notes.scale_bar.enabled,
            "data_bar": presentation.data_bar.enabled,
            "text_label": notes.text_labels.enabled,
            "panel_letter": notes.panel_letter.enabled,
            "arrow": notes.arrow.enabled,
            "outline": notes.outline.enabled,
            "border": presentation.border.enabled,
            "loose_crop": presentation.crop.enabled,
            "jpeg_artefacts": presentation.jpeg.enabled,
            "defocus": imaging.defocus,
            "gamma_noise": imaging.noise_model.value == "gamma",
        }
    )
    flags.update({f"resolution:{r.value}": presentation.resolution.mode == r for r in Resolution})
    flags.update({f"file:{f.value}": presentation.file.format == f for f in FileFormat})
    return flags


def nuisance_rates(config: SynthConfig) -> dict[str, np.ndarray]:
    counts: dict[str, np.ndarray] = {}
    for idx in range(8 * PER_CLASS):
        for name, value in nuisances(sample_parameters(config, 77, 0, idx)).items():
            counts.setdefault(name, np.zeros(8))[idx % 8] += value
    return {name: values / PER_CLASS for name, values in counts.items()}


@pytest.fixture(scope="module")
def rates():
    """The whole variety of the specification (``standard``'s own framing is narrower)."""
    return nuisance_rates(SynthConfig(size=224, tool="full"))


def test_every_nuisance_has_the_same_rate_in_every_class(rates):
    assert_equal_rates(rates)


def test_standards_own_framing_has_the_same_rates_in_every_class():
    assert_equal_rates(nuisance_rates(SynthConfig(size=224)))


def assert_equal_rates(rates: dict[str, np.ndarray]) -> None:
    for name, per_class in rates.items():
        pooled = per_class.mean()
        worst = np.abs(per_class - pooled).max()
        assert worst <= TOLERANCE, (name, dict(zip(CLASSES, per_class.round(3))))


def test_every_nuisance_appears_in_every_class(rates):
    for name, per_class in rates.items():
        assert per_class.min() > 0, name
    assert rates["view:cross_section"].mean() > 0.1 and rates["view:blanket"].mean() > 0.1
    assert rates["tilted"].mean() > 0.1 and rates["data_bar"].mean() > 0.05
