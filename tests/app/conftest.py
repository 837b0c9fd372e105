"""App test fixtures: a tiny labelled dataset, a tiny trained bundle, and app folders using them.

The bundle is trained once per session through the ``sem_core.train`` API (32 px, one epoch
per stage, MobileNetV3Small without ImageNet weights): its predictions are meaningless but real,
which is what the app tests need. Every test gets its own app state folder and user bundle
root (holding a copy called ``second``); the shipped root and the data root are shared.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from app_helpers import PER_SPLIT, SIZE, AppRoots, app_environment, copy_bundle, tiny_image
from PIL import Image

from sem_core.classes import CLASSES


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """Split folders of class folders, 8 PNGs of 32 px per class."""
    root = tmp_path_factory.mktemp("app_dataset") / "tiny"
    rng = np.random.default_rng(2024)
    for split, count in PER_SPLIT.items():
        for label in CLASSES:
            folder = root / split / label
            folder.mkdir(parents=True)
            for number in range(count):
                Image.fromarray(tiny_image(label, rng)).save(folder / f"{label}_{number}.png")
    return root


@pytest.fixture(scope="session")
def tiny_bundle(tiny_dataset, tmp_path_factory) -> Path:
    """A real bundle trained for one epoch per stage on the tiny dataset."""
    from sem_core.data.layouts import load_dataset
    from sem_core.train import TrainConfig
    from sem_core.train.run import train_bundle

    out = tmp_path_factory.mktemp("app_bundles") / "default"
    config = TrainConfig(image_size=SIZE, backbone="mobilenetv3small", epochs=1, stage1_epochs=1,
                         batch_size=16, seed=1, augment=False)
    manifest = load_dataset(tiny_dataset).manifest
    return train_bundle(manifest, out, config, command="tests/app tiny bundle").bundle


@pytest.fixture(scope="session")
def shared_roots(tiny_bundle, tiny_dataset, tmp_path_factory) -> AppRoots:
    """Shipped root with the tiny bundle as ``default`` and a data root with the tiny dataset
    (the user root here is a template: each test gets its own copy)."""
    base = tmp_path_factory.mktemp("app_roots")
    shipped = base / "shipped" / "default"
    shutil.copytree(tiny_bundle, shipped)
    user = base / "user_models_template"
    user.mkdir()
    copy_bundle(tiny_bundle, user / "second", "2030-01-01T00:00:00+00:00")
    data = base / "data"
    shutil.copytree(tiny_dataset, data / "tiny")
    return AppRoots(shipped, user, data, data / "tiny")


@pytest.fixture
def app_env(shared_roots, tmp_path, monkeypatch) -> AppRoots:
    """Point the app at the shared roots, its own user root and a fresh state folder."""
    user = tmp_path / "user_models"
    shutil.copytree(shared_roots.user_models, user)
    roots = replace(shared_roots, user_models=user)
    for name, value in app_environment(roots, tmp_path / "app_state").items():
        monkeypatch.setenv(name, value)
    return roots
