"""Where images come from: a folder, a zip, a list of paths, bytes or arrays, read lazily.

``iter_sources`` turns any of these into ``ImageSource`` records that decode only when asked, so a
cascade over thousands of files holds one batch in memory at a time. Every regular file in a
folder or zip becomes a source (not only those with image extensions): a stray PDF or a corrupt
file must show up as an error row, not vanish. Zip members are read through
``sem_core.data.archive`` with per-member and per-archive caps.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sem_core.data.archive import DEFAULT_LIMITS, ArchiveLimits, OpenArchive
from sem_core.data.image_io import SemImage, load_image
from sem_core.errors import ImageErrorKind, ImageLoadError


@dataclass(frozen=True)
class ImageSource:
    """One image to be read later.

    Attributes:
        name: What the user calls it (a path, or ``archive.zip/member.png``).
        reader: Returns the file's bytes, or None when ``path`` or ``array`` is used.
        path: A file on disk, decoded directly.
        array: An already decoded (H, W) float image in [0, 1].
        archive: The zip archive a member (or an archive's refusal) comes from, so the source can
            be named by value and opened again in another process (``reopen_source``).
    """

    name: str
    reader: Callable[[], bytes] | None = None
    path: Path | None = None
    array: np.ndarray | None = None
    archive: Path | None = None

    def load(self, **load_kwargs) -> SemImage:
        """Decode the image; raises ``ImageLoadError`` naming the source on bad input."""
        if self.path is not None:
            return load_image(self.path, **load_kwargs)
        if self.reader is not None:
            return load_image(self.reader(), name=self.name, **load_kwargs)
        raise ImageLoadError(self.name, ImageErrorKind.NOT_AN_IMAGE, "holds an array, not a file.")


def _sorted_files(directory: Path) -> Iterator[Path]:
    """Files under ``directory`` in the order of their relative POSIX paths, skipping hidden
    names and not following linked folders (as ``Path.rglob``). A folder sorts as its name plus
    "/", which puts its files exactly where a sort of the full relative paths would."""
    try:
        with os.scandir(directory) as listing:
            entries = [
                (entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""), entry.path)
                for entry in listing
                if not entry.name.startswith(".")
            ]
    except OSError:  # an unreadable subfolder is skipped, as rglob skips it
        return
    for key, path in sorted(entries):
        if key.endswith("/"):
            yield from _sorted_files(Path(path))
        elif os.path.isfile(path):
            yield Path(path)


def folder_sources(folder: Path) -> Iterator[ImageSource]:
    """Every regular, non-hidden file under ``folder``, sorted by relative path; zip archives in
    the folder are expanded into their members. Folders are listed one at a time, so a folder of
    a million images is never held in memory as one list."""
    for path in _sorted_files(folder):
        if path.suffix.lower() == ".zip":
            yield from zip_sources(path)
        else:
            yield ImageSource(name=str(path), path=path)


def zip_sources(archive: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> Iterator[ImageSource]:
    """Every file member of a zip archive; members are read only when decoded, with caps.

    Refused members (links, encrypted, nested archives, over a size or count limit; see
    ``sem_core.data.archive``) become sources that fail with their reason when decoded, and an
    archive that cannot be opened yields one such source, so the rest of a batch goes on.

    Args:
        archive: The zip file.
        limits: Caps on what one archive may make the reader decompress. Default:
            ``ArchiveLimits()``.
    """
    opened = OpenArchive(archive, limits)
    try:
        members = opened.members()
    except ImageLoadError as error:
        yield ImageSource(name=str(archive), reader=_failing_reader(error), archive=archive)
        return
    if not members:  # an archive with nothing in it is reported, not silently skipped
        yield ImageSource(name=str(archive), reader=_failing_reader(ImageLoadError(
            str(archive), ImageErrorKind.EMPTY, "the zip archive holds no files (folders, "
            "hidden and __MACOSX entries aside)")), archive=archive)
        return
    for member in members:
        yield ImageSource(name=member.name, reader=functools.partial(opened.read, member),
                          archive=archive)


def reopen_source(name: str, path: Path | None, archive: Path | None,
                  archives: dict[Path, dict[str, ImageSource]] | None = None) -> ImageSource:
    """The source that ``iter_sources`` yielded as (``name``, ``path``, ``archive``), opened
    again, e.g. in a worker process that was sent only those three values.

    Args:
        name: The source's name.
        path: Its file, or None for a zip member.
        archive: Its zip archive, or None for a plain file.
        archives: Cache of archive -> sources by name, filled as archives are opened; pass the
            same dict for many members so each archive is listed once. Default: None.

    Returns:
        An ``ImageSource`` that decodes (or fails) exactly as the original did; a member no
        longer in its archive fails with NOT_FOUND.
    """
    if archive is None:
        return ImageSource(name=name, path=None if path is None else Path(path))
    archives = {} if archives is None else archives
    archive = Path(archive)
    if archive not in archives:
        archives[archive] = {source.name: source for source in zip_sources(archive)}
    found = archives[archive].get(name)
    if found is not None:
        return found
    return ImageSource(name=name, reader=_failing_reader(ImageLoadError(
        name, ImageErrorKind.NOT_FOUND, f"no longer a member of {archive}")), archive=archive)


def _failing_reader(error: ImageLoadError) -> Callable[[], bytes]:
    def read() -> bytes:
        raise error

    return read


def iter_sources(
    inputs: str | os.PathLike | Iterable[str | os.PathLike | np.ndarray | tuple[str, bytes]],
) -> Iterator[ImageSource]:
    """Expand a folder, a zip, a file or a list of those (or arrays, or (name, bytes)) lazily.

    Args:
        inputs: One path, or an iterable of paths, ``(name, bytes)`` pairs, (H, W) arrays or
            ``ImageSource`` records (passed through).

    Yields:
        ``ImageSource`` records in a stable order. A path that does not exist yields a source that
        fails with NOT_FOUND when decoded, so it is reported like any other bad file.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs
    for position, item in enumerate(items):
        if isinstance(item, ImageSource):
            yield item
        elif isinstance(item, np.ndarray):
            yield ImageSource(name=f"array[{position}]", array=item)
        elif isinstance(item, tuple):
            name, payload = item
            yield ImageSource(name=str(name), reader=lambda payload=payload: payload)
        else:
            path = Path(item)
            if path.is_dir():
                yield from folder_sources(path)
            elif path.suffix.lower() == ".zip" and path.is_file():
                yield from zip_sources(path)
            else:
                yield ImageSource(name=str(path), path=path)


def expand_manifests(inputs: Iterable[object]) -> list[object]:
    """The inputs with each manifest CSV (``path,label,...``; see ``sem_core.data.manifest``)
    replaced by the files it lists, resolved against its folder; other inputs pass unchanged.

    Raises:
        sem_core.errors.DatasetError: When a ``.csv`` input is not a readable manifest.
    """
    from sem_core.data.manifest import Manifest

    expanded: list[object] = []
    for item in inputs:
        if isinstance(item, (str, os.PathLike)) and str(item).lower().endswith(".csv") \
                and Path(item).is_file():
            manifest = Manifest.read_csv(item)
            expanded.extend(manifest.resolve(entry) for entry in manifest.entries)
        else:
            expanded.append(item)
    return expanded
