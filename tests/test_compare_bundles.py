"""compare_bundles runs both bundles over the held-out images only."""

import pytest

from sem_core.compare import compare_bundles
from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.labels import HeldOutSplit


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Two untrained bundles that differ only in the stage-1 threshold: 1.0 passes everything
    as Clean, 0.0 sends everything to stage 2."""
    from bundle_fixtures import make_untrained_bundle

    root = tmp_path_factory.mktemp("compare_bundles")
    return make_untrained_bundle(root / "all_clean", threshold=1.0), \
        make_untrained_bundle(root / "all_defective", threshold=0.0)


def test_compare_bundles_on_the_pinned_images(bundles, tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    entries = []
    for index, (label, split) in enumerate([("Clean", "Test"), ("Cracks", "Test"),
                                            ("Vias", "Train"), ("Clean", "Train")]):
        pixels = rng.integers(0, 255, (32, 32), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{index}.png")
        entries.append(ManifestEntry(f"{index}.png", label, split, f"{index:064x}"))
    manifest = Manifest(tuple(entries), root=str(tmp_path))
    heldout = HeldOutSplit(frozenset({f"{0:064x}", f"{1:064x}", f"{2:064x}"}), "digest", "now")
    result = compare_bundles(*bundles, manifest, heldout=heldout, dataset_version="v1")
    assert result.new.n_images == 3  # the pinned Train image counts, the unpinned one does not
    assert result.old.overkill_rate == 0.0 and result.old.escape_rate == 1.0
    assert result.new.overkill_rate == 1.0 and result.new.escape_rate == 0.0
    assert {item.path.rsplit("/", 1)[-1] for item in result.changed} == {"0.png", "1.png", "2.png"}
    assert result.heldout_digest == "digest" and result.dataset_version == "v1"


def test_compare_command_prints_deltas_and_writes_json(bundles, tmp_path, capsys):
    import json

    import numpy as np
    from PIL import Image

    from sem_core.cli import main

    rng = np.random.default_rng(1)
    for split in ("Train", "Validation", "Test"):
        for label in ("Clean", "Vias"):
            folder = tmp_path / "data" / split / label
            folder.mkdir(parents=True)
            pixels = rng.integers(0, 255, (32, 32), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{label}.png")
    out = tmp_path / "comparison.json"
    assert main(["compare", "--old", str(bundles[0]), "--new", str(bundles[1]), "--data",
                 str(tmp_path / "data"), "--labels", str(tmp_path / "labels.db"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out images: 2" in printed and "overkill_rate" in printed
    assert "2 predictions changed" in printed
    assert json.loads(out.read_text())["new"]["overkill_rate"] == 1.0
