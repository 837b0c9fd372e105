"""A tiny labelled SEM-like dataset (32 px, every class, every split), made once per session."""

import pytest

from bundle_fixtures import write_tiny_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Class folders under Train/Validation/Test folders: 8 classes x 10 PNGs of 32 px."""
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny_sem"),
                              {"Train": 6, "Validation": 3, "Test": 1}, seed=7)
