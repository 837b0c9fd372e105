"""``python -m sem_core labels``: set, flag, undo, history and export from a terminal."""

import json

import numpy as np
import pytest
from PIL import Image

from sem_core.cli import main
from sem_core.labels import DecisionSource, LabelStore


@pytest.fixture
def dataset(tmp_path):
    """Train/Validation/Test class folders with a few random 32-px PNGs."""
    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    for split in ("Train", "Validation", "Test"):
        for label in ("Clean", "Cracks"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for number in range(2):
                pixels = rng.integers(0, 255, (32, 32), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{label}_{number}.png")
    return root


def test_set_undo_and_history(dataset, tmp_path, capsys):
    database = tmp_path / "labels.db"
    image = dataset / "Train" / "Clean" / "Clean_0.png"
    assert main(["labels", "set", "--db", str(database), "--data", str(dataset), "--image",
                 str(image), "--label", "scratch", "--who", "Ana", "--note", "long line"]) == 0
    assert "Clean -> Scratches (manual, by Ana)" in capsys.readouterr().out
    assert main(["labels", "undo", "--db", str(database), "--last"]) == 0
    assert main(["labels", "history", "--db", str(database), "--image", str(image),
                 "--csv", str(tmp_path / "history.csv")]) == 0
    out = capsys.readouterr().out
    assert "Scratches" in out and "undo" in out
    assert (tmp_path / "history.csv").read_text().count("\n") == 3
    assert LabelStore(database).meta()["heldout_digest"]  # pinned before the first change


def test_unknown_and_flag_sources(dataset, tmp_path):
    database = tmp_path / "labels.db"
    first = dataset / "Train" / "Cracks" / "Cracks_0.png"
    second = dataset / "Train" / "Cracks" / "Cracks_1.png"
    assert main(["labels", "set", "--db", str(database), "--data", str(dataset),
                 "--image", str(first), "--label", "unknown"]) == 0
    assert main(["labels", "flag", "--db", str(database), "--data", str(dataset),
                 "--image", str(second), "--note", "looks like a via"]) == 0
    sources = [row.source for row in LabelStore(database).history()]
    assert sources == [DecisionSource.FLAG, DecisionSource.REVIEW_REQUEST]


def test_errors_name_the_problem(dataset, tmp_path, capsys):
    outsider = tmp_path / "outsider.png"
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(outsider)
    database = str(tmp_path / "labels.db")
    assert main(["labels", "set", "--db", database, "--data", str(dataset), "--image",
                 str(outsider), "--label", "Vias"]) == 1
    assert "outsider.png: this file is not part of the dataset" in capsys.readouterr().err
    image = dataset / "Test" / "Clean" / "Clean_1.png"
    assert main(["labels", "set", "--db", database, "--data", str(dataset), "--image",
                 str(image), "--label", "Blob"]) == 1
    assert "'Blob' is not one of the 8 classes" in capsys.readouterr().err
    assert main(["labels", "undo", "--db", database, "--last"]) == 1
    assert "nothing to undo" in capsys.readouterr().err


def test_export_writes_the_corrected_manifest(dataset, tmp_path):
    database = str(tmp_path / "labels.db")
    image = dataset / "Validation" / "Cracks" / "Cracks_1.png"
    main(["labels", "set", "--db", database, "--data", str(dataset), "--image", str(image),
          "--label", "Opens"])
    assert main(["labels", "export", "--db", database, "--data", str(dataset),
                 "--out", str(tmp_path / "export"), "--format", "kaggle"]) == 0
    info = json.loads((tmp_path / "export" / "corrected.json").read_text())
    assert info["relabelled"] == 1 and info["format"] == "kaggle"
    assert len(list((tmp_path / "export").rglob("Opens/*.png"))) >= 1
