"""Untrusted bundles: each broken or unsafe one is refused naming its file, and the registry
lists it as broken, with the reason, next to the good ones instead of failing."""

import pytest
from bundle_fixtures import make_untrained_bundle
from hostile_bundles import HOSTILE_BUNDLES, lambda_model_file, write_hostile_bundles

from sem_core.registry import BundleError, BundleRegistry, check_bundle, load_bundle


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    good = make_untrained_bundle(root / "good")
    write_hostile_bundles(good, root)
    return root


@pytest.mark.parametrize("case", HOSTILE_BUNDLES, ids=lambda case: case.name)
def test_each_broken_bundle_is_refused_naming_its_file(root, case):
    with pytest.raises(BundleError) as raised:
        load_bundle(root / case.name)
    message = str(raised.value)
    assert case.reason in message
    assert str(root / case.name) in message


def test_the_registry_lists_broken_bundles_with_their_reason_and_keeps_the_good_one(root):
    usable, broken = BundleRegistry(root).scan()
    assert [bundle.path.name for bundle in usable] == ["good"]
    reasons = {bundle.path.name: bundle.reason for bundle in broken}
    assert set(reasons) == {case.name for case in HOSTILE_BUNDLES}
    for case in HOSTILE_BUNDLES:
        assert case.reason in reasons[case.name]
    assert BundleRegistry(root).get("good").path == root / "good"
    with pytest.raises(BundleError, match="available: good"):
        BundleRegistry(root).get("lambda_layer")


def test_keras_safe_mode_itself_refuses_the_lambda_model(tmp_path):
    import keras

    file = lambda_model_file(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="(?i)lambda"):
        keras.saving.load_model(file, safe_mode=True)


def test_a_good_bundle_passes_every_check(root):
    assert check_bundle(root / "good").input_size == 32
