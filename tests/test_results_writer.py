"""The streaming results writer against the in-memory table; stand-in predictors, no TensorFlow."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from sem_core.cascade import Cascade, CascadeConfig
from sem_core.classes import CLASSES
from sem_core.data.sources import iter_sources
from sem_core.inference import results_frame
from sem_core.results_writer import RESULT_COLUMNS, ResultsWriter


def _brightness(batch: np.ndarray) -> np.ndarray:
    # Stage 1 stand-in: bright images are "defective".
    return batch.mean(axis=(1, 2, 3))


def _stage2(batch: np.ndarray) -> np.ndarray:
    # Stage 2 stand-in: a softmax whose top class moves with brightness, so rows differ.
    logits = np.outer(_brightness(batch) * 10.0, np.arange(7) % 3) + np.arange(7) * 0.1
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two clean images, then a bad file, then three defective ones (sorted by name)."""
    folder = tmp_path_factory.mktemp("writer_images")
    for index, level in enumerate((20, 40)):
        pixels = np.full((40, 48), level, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"a_clean_{index}.png")
    (folder / "b_broken.png").write_bytes(b"not a png, just text")
    rng = np.random.default_rng(3)
    for index in range(3):
        pixels = rng.integers(180, 255, (36, 44), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"c_defect_{index}.png")
    cascade = Cascade(_brightness, _stage2, CascadeConfig(image_size=32, batch_size=2))
    return list(cascade.run(iter_sources(folder)))


def _write(results, path, rows_per_group=2):
    with ResultsWriter(path, rows_per_group=rows_per_group) as writer:
        for result in results:
            writer.write(result)
    return writer.summary()


def test_the_fixture_covers_clean_error_and_stage2_rows(results):
    assert [r.final_label == "Clean" for r in results[:2]] == [True, True]
    assert not results[2].ok
    assert all(r.stage2_probabilities is not None for r in results[3:])


def test_csv_matches_the_in_memory_table_and_leaves_no_temporary_file(results, tmp_path):
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    results_frame(results).to_csv(old, index=False)
    _write(results, new)
    assert new.read_text().splitlines()[0] == old.read_text().splitlines()[0]
    assert list(pd.read_csv(new).columns) == list(RESULT_COLUMNS)
    pd.testing.assert_frame_equal(pd.read_csv(new), pd.read_csv(old))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new.csv", "old.csv"]


def test_parquet_matches_the_in_memory_table_with_all_null_groups(results, tmp_path):
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    results_frame(results).to_parquet(old, index=False)
    _write(results, new)
    # First row group: two clean images, so its error and stage-2 columns hold nulls only.
    assert pq.ParquetFile(new).metadata.num_row_groups == 3
    first_group = pq.ParquetFile(new).read_row_group(0).to_pandas()
    assert first_group["error"].isna().all() and first_group["p_Bridges"].isna().all()
    pd.testing.assert_frame_equal(pd.read_parquet(new), pd.read_parquet(old))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new.parquet", "old.parquet"]


def test_parquet_of_clean_images_only_keeps_typed_columns(results, tmp_path):
    out = tmp_path / "clean.parquet"
    _write(results[:2], out)
    schema = pq.read_schema(out)
    assert schema.names == list(RESULT_COLUMNS)
    assert str(schema.field("p_Cracks").type) == "double"
    assert str(schema.field("error").type) == "large_string"


def test_summary_counts_files_errors_labels_and_stage2(results, tmp_path):
    summary = _write(results, tmp_path / "out.csv")
    expected = pd.Series([r.final_label for r in results if r.ok]).value_counts()
    counts = (summary.files, summary.errors, summary.classified, summary.stage2_images)
    assert counts == (6, 1, 5, 3)
    assert summary.label_counts == {label: int(expected.get(label, 0)) for label in CLASSES}
    assert summary.stage2_share == pytest.approx(3 / 5)


def test_existing_output_is_never_overwritten(results, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    with pytest.raises(FileExistsError, match="out.csv"):
        _write(results, out)
    assert out.read_text() == "keep me\n"
    assert [path.name for path in tmp_path.iterdir()] == ["out.csv"]


def test_output_appearing_during_the_run_is_kept_and_results_saved_aside(results, tmp_path):
    out = tmp_path / "out.csv"
    with pytest.raises(FileExistsError, match="kept in") as caught:
        with ResultsWriter(out) as writer:
            for result in results:
                writer.write(result)
            out.write_text("someone else's table\n")
    assert out.read_text() == "someone else's table\n"
    assert len(pd.read_csv(writer.temporary_path)) == len(results)
    assert str(writer.temporary_path) in str(caught.value)


def test_a_failed_run_leaves_neither_output_nor_temporary_file(results, tmp_path):
    out = tmp_path / "sub" / "out.parquet"
    with pytest.raises(RuntimeError, match="stopped"):
        with ResultsWriter(out, rows_per_group=1) as writer:
            writer.write(results[0])
            assert writer.temporary_path.is_file() and not out.exists()
            raise RuntimeError("stopped")
    assert list(out.parent.iterdir()) == []


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match="results.xlsx"):
        ResultsWriter(tmp_path / "results.xlsx")
