"""Bounded zip reads: every hostile archive gives its rows with their kinds, nothing is read whole,
and the batch goes on (``sem_core.data.archive`` through ``iter_sources``)."""

import zipfile

import pytest
from archive_fixtures import (
    HOSTILE_ARCHIVES,
    PNG_SIGNATURE,
    expected_rows,
    good_png,
    write_hostile_archives,
    write_zero_bomb,
)

from sem_core.data.archive import ArchiveLimits, OpenArchive, list_members
from sem_core.data.image_formats import max_encoded_bytes
from sem_core.data.sources import iter_sources
from sem_core.errors import ARCHIVE_ONLY_KINDS, ImageErrorKind, ImageLoadError


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile_archives")
    write_hostile_archives(folder)
    return folder


def outcomes(folder, inputs) -> dict[str, ImageErrorKind | None]:
    """Row name (relative to ``folder``) -> error kind, None when the image decoded."""
    found = {}
    for source in iter_sources(inputs):
        name = source.name.removeprefix(f"{folder}/")
        try:
            source.load()
            found[name] = None
        except ImageLoadError as error:
            assert error.detail and error.source, name
            found[name] = error.kind
    return found


def test_the_archive_table_covers_every_archive_only_kind():
    kinds = {kind for case in HOSTILE_ARCHIVES for kind in case.rows.values()}
    assert ARCHIVE_ONLY_KINDS - {ImageErrorKind.ARCHIVE_LIMIT} <= kinds
    assert len(HOSTILE_ARCHIVES) >= 12


@pytest.mark.parametrize("case", HOSTILE_ARCHIVES, ids=lambda case: case.name)
def test_each_hostile_archive_gives_its_rows_and_kinds(archives, case):
    assert outcomes(archives, [archives / case.name]) == expected_rows(case)


def test_a_folder_of_every_hostile_archive_is_one_batch_that_goes_on(archives):
    expected = {}
    for case in HOSTILE_ARCHIVES:
        expected.update(expected_rows(case))
    assert outcomes(archives, archives) == expected


def test_the_member_cap_follows_the_pixel_limit_and_refuses_before_reading(tmp_path):
    limits = ArchiveLimits(max_pixels=100_000)
    assert limits.max_member_bytes == max_encoded_bytes(100_000) == 400_000 + (1 << 20)
    archive = write_zero_bomb(tmp_path / "b.zip", 8 << 20, "z.png")
    (member,) = list_members(archive, limits)
    assert member.refusal.kind is ImageErrorKind.TOO_LARGE
    assert "8,388,608 bytes" in member.refusal.detail and "100,000-pixel" in member.refusal.detail


def test_the_archive_total_cap_refuses_members_past_it_by_name(tmp_path):
    archive = tmp_path / "lot.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for index in range(4):
            handle.writestr(f"{index}.png", good_png(index))
    size = len(good_png(0))
    members = list_members(archive, ArchiveLimits(max_archive_bytes=2 * size + size // 2))
    assert [member.refusal is None for member in members] == [True, True, False, False]
    assert members[2].refusal.kind is ImageErrorKind.ARCHIVE_LIMIT
    assert "lot.zip/2.png" == members[2].name


def test_members_over_the_count_limit_are_one_row_naming_how_many(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for index in range(7):
            handle.writestr(f"{index}.png", good_png(index))
    members = list_members(archive, ArchiveLimits(max_members=5))
    assert len(members) == 6
    assert members[-1].refusal.kind is ImageErrorKind.ARCHIVE_LIMIT
    assert "holds 7 files" in members[-1].refusal.detail and "2 after 4.png" in members[-1].refusal.detail


def test_a_member_is_streamed_and_stops_at_the_cap_even_when_the_directory_lies(tmp_path):
    archive = tmp_path / "lies.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("a.png", PNG_SIGNATURE + bytes(4 << 20))
    (member,) = list_members(archive)
    # The reader's cap is the smaller of the declared size and the limit; shrink the limit
    # below the declared size as a directory that understates nothing but is over the cap.
    opened = OpenArchive(archive, ArchiveLimits(max_pixels=1))
    with pytest.raises(ImageLoadError) as raised:
        opened.read(member)
    assert raised.value.kind is ImageErrorKind.TOO_LARGE
    assert "reading stopped" in raised.value.detail


def test_one_archive_is_opened_once_for_all_its_members(tmp_path, monkeypatch):
    archive = tmp_path / "lot.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for index in range(5):
            handle.writestr(f"{index}.png", good_png(index))
    opened = []
    original = zipfile.ZipFile.__init__

    def counting(self, file, *args, **kwargs):
        opened.append(file)
        original(self, file, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting)
    assert all(kind is None for kind in outcomes(tmp_path, [archive]).values())
    assert len(opened) == 1  # the listing and all five reads share one handle


def test_limits_are_validated_quoting_the_value():
    with pytest.raises(ValueError, match="max_members=0"):
        ArchiveLimits(max_members=0)


def test_a_file_on_disk_over_the_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import builtins

    big = tmp_path / "scan.png"
    with open(big, "wb") as handle:  # sparse: 5 GiB on paper, nothing on disk
        handle.truncate(5 << 30)
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda file, *a, **k: (opened.append(str(file)),
                                                                 real_open(file, *a, **k))[1])
    assert outcomes(tmp_path, tmp_path) == {"scan.png": ImageErrorKind.TOO_LARGE}
    assert str(big) not in opened
