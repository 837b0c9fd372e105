"""Hostile zip archives for the input tests, built by code (nothing large is committed).

``HOSTILE_ARCHIVES`` is a table: an archive's file name, a builder writing it, the rows that
``predict`` and the Inspect upload must give (row name under the archive -> expected error
kind, None when the member must be classified), and what the dataset upload must do (None:
extracted; otherwise a phrase its refusal must contain). The archives are small; the 4 GiB
bomb and the 100,000-member archive are built by ``write_zero_bomb`` and ``write_many_empty``
for the tests that measure them.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sem_core.errors import ImageErrorKind

K = ImageErrorKind


def good_png(seed: int = 0, size: int = 32) -> bytes:
    """A small grey PNG with some texture (decodes and classifies)."""
    rng = np.random.default_rng(seed)
    pixels = (0.4 + 0.2 * rng.random((size, size))) * 255
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_zero_bomb(path: Path, size: int = 4 << 30, name: str = "bomb.png") -> Path:
    """One member of ``size`` zero bytes (4 GiB by default), streamed through deflate: the
    archive is about 18 MB and nothing of ``size`` is ever held in memory."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open(name, "w", force_zip64=True) as member:
        for _ in range(size // len(chunk)):
            member.write(chunk)
        member.write(bytes(size % len(chunk)))
    return path


def write_many_empty(path: Path, count: int = 100_000) -> Path:
    """``count`` empty members named ``e/000000.png`` ... (a directory-bomb of tiny entries)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"e/{index:06d}.png", b"")
    return path


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _patch_declared_size(path: Path, member_data: bytes, declared: int) -> None:
    """Write a one-member zip whose headers declare ``declared`` bytes but whose deflate
    stream holds ``member_data`` (an undeclared bomb: the directory lies)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lies.png", member_data)
    data = bytearray(buffer.getvalue())
    struct.pack_into("<I", data, 22, declared)  # local header: uncompressed size
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))


def _set_encrypted_flag(path: Path) -> None:
    """Mark every member encrypted (general-purpose bit 0), as a password-protected zip does."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("secret.png", good_png(7))
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        flags = struct.unpack_from("<H", data, position + offset)[0]
        struct.pack_into("<H", data, position + offset, flags | 0x1)
    path.write_bytes(bytes(data))


def _with_link(path: Path) -> None:
    link = zipfile.ZipInfo("link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Clean/ok.png", good_png(1))
        archive.writestr(link, "/etc/passwd")


def _nested(path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("inner.png", good_png(2))
    _zip(path, {"Clean/ok.png": good_png(3), "inner.zip": inner.getvalue(),
                "disguised.png": inner.getvalue()})


def _truncated(path: Path) -> None:
    _zip(path, {"a.png": good_png(4), "b.png": good_png(5)})
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@dataclass(frozen=True)
class HostileArchive:
    """One hostile archive, its expected rows, and the dataset upload's expected outcome."""

    name: str
    build: Callable[[Path], None]
    rows: dict[str, ImageErrorKind | None]
    dataset_upload: str | None


HOSTILE_ARCHIVES: tuple[HostileArchive, ...] = (
    HostileArchive("slip.zip", lambda path: _zip(path, {"Clean/ok.png": good_png(10),
                                                       "../evil.png": good_png(11)}),
                   {"Clean/ok.png": None, "../evil.png": None}, "leaves the archive folder"),
    HostileArchive("absolute.zip", lambda path: _zip(path, {"/tmp/evil.png": good_png(12)}),
                   {"/tmp/evil.png": None}, "leaves the archive folder"),
    HostileArchive("link.zip", _with_link, {"Clean/ok.png": None, "link.png": K.LINK},
                   "symbolic link"),
    HostileArchive("declared_bomb.zip",
                   lambda path: write_zero_bomb(path, 900 << 20, "Clean/big.png"),
                   {"Clean/big.png": K.TOO_LARGE}, "declared decompressed size"),
    HostileArchive("undeclared_bomb.zip",
                   lambda path: _patch_declared_size(path, PNG_SIGNATURE + bytes(16 << 20), 4096),
                   {"lies.png": K.CORRUPT}, "does not match its declared size"),
    HostileArchive("zeros_named_png.zip",
                   lambda path: write_zero_bomb(path, 64 << 20, "Clean/zeros.png"),
                   {"Clean/zeros.png": K.NOT_AN_IMAGE}, None),
    HostileArchive("nested.zip", _nested, {"Clean/ok.png": None, "disguised.png": K.NESTED_ARCHIVE,
                                           "inner.zip": K.NESTED_ARCHIVE}, "inside archives"),
    HostileArchive("encrypted.zip", _set_encrypted_flag, {"secret.png": K.ENCRYPTED}, "encrypted"),
    HostileArchive("empty.zip", lambda path: _zip(path, {}), {"": K.EMPTY}, "holds no files"),
    HostileArchive("only_folders.zip", lambda path: _zip(path, {"Clean/": b"", "__MACOSX/._a.png": b"x"}),
                   {"": K.EMPTY}, "holds no files"),
    HostileArchive("not_a_zip.zip", lambda path: path.write_bytes(b"PK\x03\x04 not really"),
                   {"": K.CORRUPT}, "not a readable zip"),
    HostileArchive("truncated.zip", _truncated, {"": K.CORRUPT}, "not a readable zip"),
    HostileArchive("empty_members.zip", lambda path: _zip(path, {"Clean/a.png": b"",
                                                                "Clean/b.png": good_png(13)}),
                   {"Clean/a.png": K.EMPTY, "Clean/b.png": None}, None),
    HostileArchive("mixed.zip", lambda path: _zip(path, {
        "Clean/notes.txt": b"lot 7 inspection notes\n", "Clean/a.gif": b"GIF89a" + bytes(64),
        "Clean/unicode_défaut_晶圆.png": good_png(14)}),
        {"Clean/notes.txt": K.NOT_AN_IMAGE, "Clean/a.gif": K.UNSUPPORTED,
         "Clean/unicode_défaut_晶圆.png": None}, None),
    HostileArchive("stored.zip", lambda path: _zip(path, {"Clean/s.png": good_png(15)},
                                                   zipfile.ZIP_STORED),
                   {"Clean/s.png": None}, None),
)


def write_hostile_archives(folder: Path) -> dict[str, Path]:
    """Write every ``HOSTILE_ARCHIVES`` entry into ``folder``; return name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in HOSTILE_ARCHIVES:
        case.build(folder / case.name)
        paths[case.name] = folder / case.name
    return paths


def expected_rows(case: HostileArchive) -> dict[str, ImageErrorKind | None]:
    """Row names as ``predict`` gives them (``archive.zip/member``; the archive alone for "")."""
    return {(f"{case.name}/{member}" if member else case.name): kind
            for member, kind in case.rows.items()}
