"""Session fixtures of the deploy tests: a labelled tiny dataset and a responsive tiny bundle
(see ``deploy_helpers``)."""

from pathlib import Path

import pytest
from bundle_fixtures import write_tiny_dataset
from deploy_helpers import make_responsive_bundle


@pytest.fixture(scope="session")
def deploy_dataset(tmp_path_factory) -> Path:
    """Train/Validation class folders: 8 classes x (3 + 3) PNGs of 32 px."""
    return write_tiny_dataset(tmp_path_factory.mktemp("deploy_data"),
                              {"Train": 3, "Validation": 3}, seed=21)


@pytest.fixture(scope="session")
def deploy_bundle_source(tmp_path_factory, deploy_dataset) -> Path:
    """The responsive bundle, saved once; tests that export copy it (exports go inside)."""
    return make_responsive_bundle(tmp_path_factory.mktemp("deploy_source") / "tiny", deploy_dataset)


@pytest.fixture
def deploy_bundle(deploy_bundle_source, tmp_path) -> Path:
    """A fresh copy of the responsive bundle for one test."""
    import shutil

    return Path(shutil.copytree(deploy_bundle_source, tmp_path / "bundle"))
