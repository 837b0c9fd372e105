"""The shortcut audit scores each image and, beside it, the image's clean twin."""

import numpy as np

from benchmarks import bench_shortcuts
from sem_core.data.synth import SynthConfig

CONFIG = SynthConfig(size=32)


def test_a_clean_image_is_its_own_twin_and_a_defect_image_differs_from_its_twin():
    clean_image, clean_twin = bench_shortcuts.features_of(CONFIG, 5, 0)  # idx 0: Clean
    bridge_image, bridge_twin = bench_shortcuts.features_of(CONFIG, 5, 1)  # idx 1: Bridges
    np.testing.assert_array_equal(clean_image, clean_twin)
    assert not np.array_equal(bridge_image, bridge_twin)


def test_the_audit_records_the_twins_figures_beside_the_images():
    run = bench_shortcuts.audit(CONFIG, seed=5, per_class=5, workers=1)
    assert run["images"] + run["no_host"] == 40
    for prefix in ("", "twin_"):
        assert 0.0 <= run[f"{prefix}probe_accuracy"] <= 1.0
        assert set(run[f"{prefix}ks_smallest_pvalue"]) == {"mean", "std", "noise"}
        assert isinstance(run[f"{prefix}ks_all_pass"], bool)
