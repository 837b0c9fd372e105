"""A tiny labelled dataset (32 px, 8 classes, all splits) and an untrained base bundle."""

import pytest

from bundle_fixtures import make_untrained_bundle, write_tiny_dataset


@pytest.fixture(scope="session")
def job_dataset(tmp_path_factory):
    """Split/Class folders of 32-px PNGs: 8 classes x (4 train, 2 validation, 2 test)."""
    return write_tiny_dataset(tmp_path_factory.mktemp("job_data"),
                              {"Train": 4, "Validation": 2, "Test": 2}, seed=5)


@pytest.fixture(scope="session")
def base_bundle_source(tmp_path_factory):
    """An untrained 32-px bundle, saved once; tests copy it into their own registry."""
    return make_untrained_bundle(tmp_path_factory.mktemp("base_source") / "base")
