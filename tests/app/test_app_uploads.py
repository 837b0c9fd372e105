"""Uploads on the Inspect page: limits with a clear message, a per-session folder that is
cleaned up, and a decompression bomb that is one refused row while the next image is classified."""

import gc
import os
import time

import numpy as np
import pytest
from app_helpers import inspect_page, png_bytes, tiny_image, upload_to_inspect
from archive_fixtures import write_zero_bomb

from sem_core.classes import CLASSES
from ui import uploads


@pytest.fixture(scope="module")
def good_png() -> bytes:
    return png_bytes(tiny_image("Vias", np.random.default_rng(8)))


def test_a_bomb_zip_is_one_refused_row_and_the_next_image_is_classified(app_env, good_png,
                                                                        tmp_path):
    bomb = write_zero_bomb(tmp_path / "lot_bomb.zip", 900 << 20, "big.png").read_bytes()
    app = upload_to_inspect(inspect_page(), [("lot_bomb.zip", bomb, "application/zip")])
    table = app.dataframe[0].value.set_index("source")
    assert table.loc["lot_bomb.zip/big.png", "error_kind"] == "too_large"
    assert "943,718,400 bytes" in table.loc["lot_bomb.zip/big.png", "error"]
    assert any(item.value == "**lot_bomb.zip/big.png**: unreadable" for item in app.markdown)
    app = upload_to_inspect(app, [("lot_bomb.zip", bomb, "application/zip"),
                        ("wafer_02.png", good_png, "image/png")])
    table = app.dataframe[0].value.set_index("source")
    assert table.loc["wafer_02.png", "final_label"] in CLASSES
    assert "2 files: 1 scored, 1 unreadable" in app.caption[0].value


def test_an_upload_over_the_file_limit_is_refused_with_a_message(app_env, good_png, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_FILES_PER_UPLOAD", 2)
    files = [(f"w{index}.png", good_png, "image/png") for index in range(3)]
    app = upload_to_inspect(inspect_page(), files)
    assert any("holds 3 files; one upload may hold at most 2" in item.value for item in app.error)
    assert not app.dataframe  # nothing was inspected


def test_the_session_folder_holds_exactly_what_the_uploader_holds(app_env, good_png):
    from ui import settings

    other = png_bytes(tiny_image("Opens", np.random.default_rng(3)))
    app = upload_to_inspect(inspect_page(), [("wafer_01.png", good_png, "image/png"),
                                             ("wafer_02.png", other, "image/png")])
    first, second = (list(settings.uploads_root().rglob(name))
                     for name in ("wafer_01.png", "wafer_02.png"))
    assert len(first) == 1 and first[0].read_bytes() == good_png and len(second) == 1
    app = upload_to_inspect(app, [("wafer_02.png", other, "image/png")])  # one taken off
    assert not first[0].exists()
    assert [path.read_bytes() for path in settings.uploads_root().rglob("*.png")] == [other]
    app.button(key="inspect_clear").click().run()  # the uploader still holds wafer_02.png
    assert [path.read_bytes() for path in settings.uploads_root().rglob("*.png")] == [other]


def test_a_session_folder_goes_when_its_session_state_is_dropped(tmp_path):
    session = uploads.SessionUploads(tmp_path / "uploads")
    stored = session.store("lot/../../a b.png", b"x")
    assert stored.parent.parent == session.path and stored.name == "a b.png"
    folder = session.path
    del session
    gc.collect()
    assert not folder.exists()


def test_folders_left_by_a_stopped_server_are_swept_after_a_day(tmp_path):
    root = tmp_path / "uploads"
    (root / "old").mkdir(parents=True)
    (root / "fresh").mkdir()
    day_ago = time.time() - uploads.STALE_AFTER_S - 60
    os.utime(root / "old", (day_ago, day_ago))
    uploads.SessionUploads(root)  # sweeps on creation
    assert not (root / "old").exists() and (root / "fresh").exists()


def test_total_bytes_and_single_file_limits_say_what_to_do(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_BYTES_PER_UPLOAD", 10)
    with pytest.raises(uploads.UploadRefused, match="at most 0 MB.*data root"):
        uploads.check_upload([("a.png", 6), ("b.png", 6)])
    uploads.check_upload([("a.png", 6)])


def test_the_server_upload_size_matches_the_per_file_limit():
    import tomllib

    from app_helpers import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == uploads.MAX_FILE_MB


def test_a_data_root_file_over_the_cap_is_refused_without_being_hashed(tmp_path):
    from ui import inspection

    folder = tmp_path / "lot"
    folder.mkdir()
    with open(folder / "huge.tif", "wb") as handle:  # sparse: 5 GiB on paper
        handle.truncate(5 << 30)
    started = time.perf_counter()
    (item,) = inspection.items_from_folder(folder, tmp_path)
    assert item.name == "lot/huge.tif" and item.failure.kind.value == "too_large"
    assert time.perf_counter() - started < 1.0  # hashing 5 GiB would take seconds
