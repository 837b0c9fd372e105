import pytest

from sem_core.classes import CLASSES, STAGE2_CLASSES, canonical_class, stage1_label


def test_eight_classes_and_stage_views():
    assert CLASSES == ("Clean", "Bridges", "Cracks", "Opens", "Shorts", "Scratches", "Vias", "Other")
    assert STAGE2_CLASSES == CLASSES[1:]
    assert stage1_label("Clean") == "Clean"
    assert all(stage1_label(name) == "Defective" for name in STAGE2_CLASSES)


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("BRIDGE", "Bridges"), ("cracks", "Cracks"), ("Open", "Opens"), ("short", "Shorts"),
     ("Scratch", "Scratches"), ("malformed_vias", "Vias"), ("Malformed Vias", "Vias"),
     ("good", "Clean"), ("None", "Clean"), ("other", "Other"), ("particle", None)],
)
def test_folder_synonyms(folder, expected):
    assert canonical_class(folder) == expected


def test_user_class_map_wins_and_is_checked():
    assert canonical_class("CMP", {"cmp": "Other"}) == "Other"
    assert canonical_class("ler", {"LER": "other"}) == "Other"
    with pytest.raises(ValueError, match="not a class"):
        canonical_class("cmp", {"cmp": "Dust"})
