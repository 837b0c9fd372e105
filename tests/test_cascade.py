"""The cascade's decisions, records and streaming, with stand-in predictors (no TensorFlow)."""

import zipfile

import numpy as np
import pytest
from PIL import Image

from sem_core.cascade import Cascade, CascadeConfig, combine_stages
from sem_core.classes import STAGE2_CLASSES
from sem_core.data.sources import iter_sources


def _mean_brightness(batch: np.ndarray) -> np.ndarray:
    # Stage 1 stand-in: bright images are "defective".
    return batch.mean(axis=(1, 2, 3))


class CountingStage2:
    """Stage 2 stand-in that remembers how many images it saw; always says Cracks."""

    def __init__(self):
        self.seen = 0

    def __call__(self, batch):
        self.seen += len(batch)
        probabilities = np.full((len(batch), 7), 0.05)
        probabilities[:, STAGE2_CLASSES.index("Cracks")] = 0.7
        return probabilities


def _write_png(path, value, size=40):
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(path)


def test_combine_stages_follows_threshold_and_sums_to_one():
    config = CascadeConfig(stage1_threshold=0.3)
    p1 = np.array([0.1, 0.3, 0.9])
    p2 = np.tile(np.array([[0.1, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05]]), (3, 1))
    decisions = combine_stages(p1, p2, config)
    assert [d[1] for d in decisions] == ["Clean", "Cracks", "Cracks"]
    assert decisions[0][2] == pytest.approx(0.9)  # Clean confidence is 1 - p1
    assert decisions[2][2] == pytest.approx(0.6)  # defect confidence is the stage-2 top probability
    for _, _, _, eight in decisions:
        assert sum(eight) == pytest.approx(1.0)


def test_a_clean_image_gets_the_same_finite_probabilities_whatever_its_batch_holds():
    config = CascadeConfig(stage1_threshold=0.5, batch_size=2, image_size=8)
    cascade = Cascade(_mean_brightness, CountingStage2(), config)
    dark, bright = np.full((8, 8), 0.1), np.full((8, 8), 0.9)
    alone = list(cascade.run(iter_sources([dark, dark])))[0]
    beside_a_defect = list(cascade.run(iter_sources([dark, bright])))[0]
    assert beside_a_defect.final_label == "Clean"
    assert np.isfinite(beside_a_defect.final_probabilities).all()
    assert beside_a_defect.final_probabilities == pytest.approx(alone.final_probabilities)
    assert sum(beside_a_defect.final_probabilities) == pytest.approx(1.0)


def test_stage2_runs_only_on_flagged_images_and_bad_files_become_rows(tmp_path):
    for index in range(6):
        _write_png(tmp_path / f"clean_{index}.png", 10)
    for index in range(3):
        _write_png(tmp_path / f"defect_{index}.png", 240)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    stage2 = CountingStage2()
    cascade = Cascade(_mean_brightness, stage2, CascadeConfig(stage1_threshold=0.5, batch_size=4,
                                                              image_size=32))
    results = list(cascade.run(iter_sources(tmp_path)))
    assert len(results) == 11
    by_name = {r.source.split("/")[-1]: r for r in results}
    assert stage2.seen == 3
    assert all(by_name[f"defect_{i}.png"].final_label == "Cracks" for i in range(3))
    assert all(by_name[f"clean_{i}.png"].final_label == "Clean" for i in range(6))
    assert all(by_name[f"clean_{i}.png"].stage2_probabilities is None for i in range(6))
    for bad in ("notes.txt", "broken.png"):
        assert not by_name[bad].ok and by_name[bad].final_label is None
        assert by_name[bad].error
    assert by_name["notes.txt"].error_kind == "not_an_image"


def test_review_flag_uses_final_confidence():
    cascade = Cascade(lambda b: np.full(len(b), 0.95), CountingStage2(),
                      CascadeConfig(stage1_threshold=0.5, review_threshold=0.8, image_size=16))
    (result,) = cascade.run(iter_sources([np.full((20, 20), 0.5)]))
    assert result.confidence == pytest.approx(0.7) and result.needs_review


def test_zip_members_and_a_bad_zip_stream_as_sources(tmp_path):
    archive = tmp_path / "batch.zip"
    _write_png(tmp_path / "a.png", 200)
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(tmp_path / "a.png", "wafer/a.png")
        handle.writestr("wafer/readme.txt", "hello")
        handle.writestr("__MACOSX/wafer/._a.png", "junk")
    (tmp_path / "bad.zip").write_bytes(b"PK not really")
    sources = list(iter_sources([archive, tmp_path / "bad.zip"]))
    assert [s.name for s in sources] == ["batch.zip/wafer/a.png", "batch.zip/wafer/readme.txt",
                                         str(tmp_path / "bad.zip")]
    cascade = Cascade(_mean_brightness, CountingStage2(), CascadeConfig(image_size=16))
    results = list(cascade.run(sources))
    assert results[0].ok and results[0].final_label == "Cracks"
    assert not results[1].ok and not results[2].ok
    assert "zip archive cannot be opened" in results[2].error


def test_config_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="stage1_threshold"):
        CascadeConfig(stage1_threshold=1.5)
