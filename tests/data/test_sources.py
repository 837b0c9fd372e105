"""Folder walks: every non-hidden file, in the order of the sorted relative paths."""

import os
import zipfile
from pathlib import Path

from sem_core.data.sources import folder_sources


def _tree(root: Path) -> None:
    for name in ["a.png", "a-b.png", "a0.png", "a/y.png", "a/b/c.png", "a b/z.png", "B.png",
                 "b/x.tif", "ab/q.png", ".hidden.png", ".cache/x.png", "d/.secret/s.png",
                 "empty/", "z.txt"]:
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    outside = root.parent / "outside"
    (outside / "deep").mkdir(parents=True, exist_ok=True)
    (outside / "deep" / "o.png").write_bytes(b"x")
    os.symlink(outside, root / "linked-folder")
    os.symlink(root / "a.png", root / "linked-file.png")
    with zipfile.ZipFile(root / "m.zip", "w") as archive:
        archive.writestr("k/2.png", b"x")
        archive.writestr("k/1.png", b"x")


def _by_full_sort(root: Path) -> list[str]:
    """The reference order: every file rglob finds, hidden parts dropped, sorted as text."""
    files = [path for path in root.rglob("*") if path.is_file()
             and not any(part.startswith(".") for part in path.relative_to(root).parts)]
    return sorted(path.relative_to(root).as_posix() for path in files)


def test_the_walk_matches_a_sort_of_the_full_relative_paths(tmp_path):
    root = tmp_path / "root"
    _tree(root)
    names = [source.name for source in folder_sources(root)]
    expected = []
    for relative in _by_full_sort(root):
        if relative == "m.zip":
            expected += ["m.zip/k/1.png", "m.zip/k/2.png"]
        else:
            expected.append(str(root / relative))
    assert names == expected
    assert str(root / "linked-file.png") in names  # a linked file is read
    assert not any("o.png" in name for name in names)  # a linked folder is not followed
    assert not any("/." in name for name in names)
