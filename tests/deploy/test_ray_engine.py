"""The Ray engine writes the local engine's rows, bad files included, from the same export."""

import logging
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sem_core.cli import main
from sem_core.data.sources import iter_sources, reopen_source
from sem_core.errors import ImageLoadError


def mixed_folder(root, dataset):
    """Six dataset images, three bad files, a zip with one good and one nested-zip member."""
    folder = root / "mixed"
    folder.mkdir()
    images = sorted((dataset / "Validation").rglob("*.png"))[::4]
    for image in images:
        (folder / image.name).write_bytes(image.read_bytes())
    (folder / "empty.png").write_bytes(b"")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 not an image")
    (folder / "cut.png").write_bytes(images[0].read_bytes()[:60])
    with zipfile.ZipFile(folder / "lot.zip", "w") as archive:
        archive.write(images[1], "inner/member.png")
        archive.writestr("inner/nested.zip", b"PK\x03\x04 not opened")
    return folder


@pytest.mark.slow  # starts a local Ray instance (about 10 s)
def test_ray_engine_writes_the_local_rows_with_bad_files_kept(deploy_bundle, deploy_dataset,
                                                               tmp_path, capsys):
    folder = mixed_folder(tmp_path, deploy_dataset)
    assert main(["export", "--bundle", str(deploy_bundle), "--format", "onnx"]) == 0
    local, ray = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    common = ["predict", "--bundle", str(deploy_bundle), "--input", str(folder),
              "--runtime", "onnx", "--batch-size", "4"]
    assert main([*common, "--out", str(local)]) == 0
    capsys.readouterr()
    assert main([*common, "--out", str(ray), "--engine", "ray", "--actors", "2"]) == 0
    captured = capsys.readouterr()
    assert "(onnx on Ray)" in captured.out
    assert "11 images on a Ray instance started for them" in captured.err  # a small local job
    # The command's own bar counts every row; Ray Data's progress log lines stay off.
    assert "predict (ray)" in captured.err and "11/11" in captured.err
    assert "Total Progress" not in captured.err + captured.out
    local_rows, ray_rows = pd.read_parquet(local), pd.read_parquet(ray)
    assert len(ray_rows) == 11 and ray_rows["error"].notna().sum() == 4
    same = [name for name in local_rows.columns if not name.endswith("_ms")]  # timings differ
    pd.testing.assert_frame_equal(ray_rows[same], local_rows[same])
    kinds = dict(zip(ray_rows["source"].str.split("/").str[-1], ray_rows["error_kind"]))
    assert kinds["nested.zip"] == "nested_archive" and kinds["empty.png"] == "empty"


def test_a_source_reopened_by_value_decodes_or_fails_as_the_original(tmp_path):
    archive = tmp_path / "lot.zip"
    Image.fromarray(np.full((20, 20), 90, np.uint8)).save(tmp_path / "a.png")
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(tmp_path / "a.png", "a.png")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    cache, outcomes = {}, []
    for source in iter_sources([archive, tmp_path / "a.png", tmp_path / "broken.zip"]):
        again = reopen_source(source.name, source.path, source.archive, cache)
        try:
            expected = source.load().pixels
        except ImageLoadError as error:  # the copy must fail with the same message
            with pytest.raises(ImageLoadError) as repeated:
                again.load()
            assert str(repeated.value) == str(error)
            outcomes.append("failed")
            continue
        np.testing.assert_array_equal(again.load().pixels, expected)
        outcomes.append("decoded")
    assert outcomes == ["decoded", "decoded", "failed"]  # member, plain file, broken archive
    with pytest.raises(ImageLoadError, match="no longer a member of"):
        reopen_source("lot.zip/missing.png", None, archive, cache).load()


def test_only_rays_notes_without_news_for_the_user_are_held_back():
    from sem_core.deploy.ray_engine import _not_a_quiet_note

    def record(name, level, message):
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    auth = "ray._private.authentication.authentication_token_setup"
    executor = "ray.data._internal.execution.streaming_executor"
    held = [record(auth, logging.WARNING, "Token authentication is enabled for this Ray cluster."),
            record("ray.data._internal.progress", logging.WARNING, "Progress bars disabled."),
            record(executor, logging.INFO, "Dataset d execution finished in 6.11 seconds")]
    shown = [record(auth, logging.WARNING, "Token authentication is disabled for this Ray "
                                           "cluster. Anyone with network access ..."),
             record(executor, logging.WARNING, "Dataset d execution failed"),
             record("ray.data", logging.INFO, "Progress bars disabled.")]  # another logger
    assert [_not_a_quiet_note(item) for item in held] == [False, False, False]
    assert [_not_a_quiet_note(item) for item in shown] == [True, True, True]
