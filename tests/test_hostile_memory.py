"""The acceptance figures of bounded zip reads, each measured in a fresh process
(tests/memory_probe.py): a 4 GiB single-member zip bomb and a zip of 100,000 empty members
through ``predict`` and through the Inspect page's upload path."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from archive_fixtures import write_many_empty
from bundle_fixtures import make_untrained_bundle

pytestmark = pytest.mark.slow

PROBE = Path(__file__).resolve().parent / "memory_probe.py"
BOMB_LIMIT_MIB = 1024
MANY_LIMIT_MIB = 512
MANY_LIMIT_S = 60


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, zero_bomb_4gib):
    folder = tmp_path_factory.mktemp("hostile_memory")
    bomb = zero_bomb_4gib  # 4 GiB of zeros, streamed through deflate
    assert bomb.stat().st_size < 32 << 20
    return {"bundle": make_untrained_bundle(folder / "bundle"), "bomb": bomb,
            "many": write_many_empty(folder / "many.zip"), "work": folder}


def probe(door: str, inputs, archive: str) -> dict:
    work = inputs["work"] / f"{door}_{archive}"
    result = subprocess.run([sys.executable, str(PROBE), door, str(inputs["bundle"]),
                             str(inputs[archive]), str(work)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(figures))  # the figures, for the record (pytest -s shows them)
    return figures


@pytest.mark.parametrize("door", ["predict", "inspect"])
def test_a_4_gib_member_is_one_refused_row_and_memory_stays_flat(inputs, door):
    import zipfile

    with zipfile.ZipFile(inputs["bomb"]) as archive:
        assert archive.infolist()[0].file_size == 4 << 30
    figures = probe(door, inputs, "bomb")
    assert figures["rows"] == {"too_large": 1}
    assert figures["peak_above_baseline_mib"] < BOMB_LIMIT_MIB


def test_100000_empty_members_through_predict_in_bounded_time_and_memory(inputs):
    figures = probe("predict", inputs, "many")
    assert figures["rows"] == {"empty": 100_000}
    assert figures["seconds"] < MANY_LIMIT_S
    assert figures["peak_above_baseline_mib"] < MANY_LIMIT_MIB


def test_100000_empty_members_through_inspect_stop_at_the_upload_limit(inputs):
    from ui.uploads import MAX_FILES_PER_UPLOAD

    figures = probe("inspect", inputs, "many")
    assert figures["rows"] == {"empty": MAX_FILES_PER_UPLOAD, "archive_limit": 1}
    assert figures["seconds"] < MANY_LIMIT_S
    assert figures["peak_above_baseline_mib"] < MANY_LIMIT_MIB
