"""Promote with evidence, roll back to an earlier bundle, every step in the append-only log."""

import json

import pytest
from bundle_fixtures import write_config_only_models

from sem_core.classes import CLASSES, STAGE1_CLASSES, STAGE2_CLASSES
from sem_core.cli import main
from sem_core.compare import BundleComparison, SideScores
from sem_core.jobs import PromotionAction, PromotionError, promote, read_log, rollback
from sem_core.jobs.promotion import PROMOTIONS_FILE
from sem_core.registry import BundleInfo, BundleRegistry, StageInfo


def _bundle(root, name, created):
    """bundle.json and two model archives holding only a Keras config: enough for the registry
    to list the bundle (it checks files without loading them; nothing here loads a model)."""
    info = BundleInfo(name, CLASSES, 32, "gray",
                      StageInfo("stage1.keras", "cnn", STAGE1_CLASSES, "x"),
                      StageInfo("stage2.keras", "m", STAGE2_CLASSES, "y"), 0.5, created=created)
    (root / name).mkdir(parents=True)
    (root / name / "bundle.json").write_text(json.dumps(info.to_dict()))
    write_config_only_models(root / name)


def _comparison(old, new, old_f1=0.5, new_f1=0.7):
    side = lambda f1: SideScores(10, f1, f1, 0.1, 0.2, {})  # noqa: E731
    return BundleComparison(str(old), str(new), side(old_f1), side(new_f1), (), heldout_digest="h")


@pytest.fixture
def registry(tmp_path):
    registry = BundleRegistry(tmp_path / "registry")
    for index, name in enumerate(["v1", "v2", "v3"]):
        _bundle(registry.root, name, f"2026-01-0{index + 1}T00:00:00+00:00")
    registry.set_active("v1")
    return registry


def test_promote_switches_active_and_logs_the_evidence(registry):
    comparison = _comparison(registry.root / "v1", registry.root / "v2")
    record = promote(registry, "v2", comparison=comparison, comparison_path="c.json", who="Ana",
                     note="fixes 12 mislabelled vias")
    assert registry.active().path.name == "v2"
    assert record.previous == str(registry.root / "v1")
    logged = read_log(registry.root)[-1]
    assert logged.action == PromotionAction.PROMOTE and logged.who == "Ana"
    assert logged.evidence["new_macro_f1"] == 0.7 and logged.evidence["old_macro_f1"] == 0.5
    assert logged.evidence["comparison_file"] == "c.json"


def test_promote_without_evidence_or_with_someone_else_s_is_refused(registry):
    with pytest.raises(PromotionError, match="needs a comparison"):
        promote(registry, "v2")
    with pytest.raises(PromotionError, match="not .*v2"):
        promote(registry, "v2", comparison=_comparison(registry.root / "v1", registry.root / "v3"))
    assert registry.active().path.name == "v1" and read_log(registry.root) == []


def test_rollback_to_any_earlier_active_bundle(registry):
    promote(registry, "v2", comparison=_comparison(registry.root / "v1", registry.root / "v2"))
    promote(registry, "v3", comparison=_comparison(registry.root / "v2", registry.root / "v3"))
    record = rollback(registry, "v1", who="Ben", note="v3 overkills on lot 7")
    assert registry.active().path.name == "v1"
    assert record.previous == str(registry.root / "v3")
    assert [item.action for item in read_log(registry.root)] == [
        PromotionAction.PROMOTE, PromotionAction.PROMOTE, PromotionAction.ROLLBACK]


def test_rollback_to_a_never_active_bundle_is_refused(registry):
    with pytest.raises(PromotionError, match="never active"):
        rollback(registry, "v3")


def test_a_torn_last_line_is_skipped_when_reading(registry):
    promote(registry, "v2", comparison=_comparison(registry.root / "v1", registry.root / "v2"))
    with open(registry.root / PROMOTIONS_FILE, "a") as handle:
        handle.write('{"action": "promote", "bun')
    assert len(read_log(registry.root)) == 1


def test_cli_promote_and_rollback(registry, tmp_path, capsys):
    path = _comparison(registry.root / "v1", registry.root / "v2").save(tmp_path / "c.json")
    assert main(["promote", "--registry", str(registry.root), "--bundle", "v2",
                 "--comparison", str(path), "--who", "Ana"]) == 0
    assert main(["promote", "--registry", str(registry.root), "--bundle", "v3"]) == 1
    assert "needs a comparison" in capsys.readouterr().err
    assert main(["rollback", "--registry", str(registry.root), "--bundle", "v1"]) == 0
    assert registry.active().path.name == "v1"
    assert main(["rollback", "--registry", str(registry.root)]) == 0
    assert "rollback" in capsys.readouterr().out
