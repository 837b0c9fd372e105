"""What the Inspect page does with images: collect them, run the cascade once per file, filter.

Uploads (single files, folders, zips; stored on disk by ``ui.uploads``) and folders under the
data root become ``InspectItem`` records named as the user knows them and keyed by the SHA-256
of their bytes; zip members are read with caps (``sem_core.data.archive``), never whole. The cascade
(``sem_core.inference.predict``) runs only on items whose hash it has not seen with the current
bundle, so reruns, page switches and re-uploads cost nothing. A zip that cannot be opened, like
any undecodable file, becomes a result row with its reason. No Streamlit here: the result cache
is a plain dict the caller keeps (in session state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import pandas as pd

from sem_core.cascade import CascadeResult
from sem_core.data.archive import ArchiveLimits
from sem_core.data.image_formats import max_encoded_bytes, too_large_file_error
from sem_core.data.image_io import DEFAULT_MAX_PIXELS, SemImage, sha256_bytes, sha256_file
from sem_core.data.sources import ImageSource, iter_sources, zip_sources
from sem_core.errors import ImageErrorKind, ImageLoadError
from sem_core.registry import LoadedBundle
from ui.uploads import UPLOAD_ARCHIVE_LIMITS

UNREADABLE = "Unreadable"
TABLE_COLUMNS = ("source", "final_label", "true_label", "confidence", "stage1_probability",
                 "stage1_decision", "needs_review", "error", "error_kind", "width", "height",
                 "sha256")


@dataclass(frozen=True)
class InspectItem:
    """One file to inspect.

    Attributes:
        name: What the user calls it (upload name, ``archive.zip/member`` or data-root path).
        sha256: Hash of its bytes ("" when they could not be read).
        source: How to read it again (a file on disk or a capped zip member), or None.
        failure: Why the bytes could not even be read (a broken zip, a refused member), or None.
    """

    name: str
    sha256: str
    source: ImageSource | None = None
    failure: ImageLoadError | None = None

    @property
    def cache_key(self) -> str:
        """The hash, or the name for items without bytes (so each keeps its own row)."""
        return self.sha256 or f"unreadable:{self.name}"


def _hashed(name: str, source: ImageSource) -> InspectItem:
    """An item whose bytes are hashed now (a zip member through its capped reader; a file on
    disk over the size cap is refused without being read)."""
    try:
        if source.path is not None:
            size = source.path.stat().st_size
            if size > max_encoded_bytes(DEFAULT_MAX_PIXELS):
                return InspectItem(name, "", failure=too_large_file_error(
                    name, size, DEFAULT_MAX_PIXELS))
        digest = sha256_file(source.path) if source.path is not None else sha256_bytes(
            source.reader())
    except ImageLoadError as error:
        return InspectItem(name, "", failure=error)
    except OSError as error:
        return InspectItem(name, "", failure=ImageLoadError(
            name, ImageErrorKind.NOT_FOUND, f"the file cannot be read ({error.strerror or error})"))
    return InspectItem(name, digest, source=source)


def _zip_items(name: str, archive: Path, limits: ArchiveLimits) -> list[InspectItem]:
    items = []
    for source in zip_sources(archive, limits):
        label = name if source.name == str(archive) else f"{name}/{source.name.split('/', 1)[1]}"
        items.append(_hashed(label, replace(source, name=label)))
    return items


def items_from_uploads(files: Iterable[tuple[str, Path]],
                       limits: ArchiveLimits = UPLOAD_ARCHIVE_LIMITS) -> list[InspectItem]:
    """Uploaded files (already written to disk) as items; a ``.zip`` gives one item per member.

    Zip members are read through ``sem_core.data.archive`` with ``limits``: a refused member
    (too large, a link, encrypted, a nested archive, ...) is an item with its reason, and a zip
    with more members than ``limits.max_members`` is refused as one item.

    Args:
        files: (name as uploaded, path of the stored copy); a folder upload gives relative names.
        limits: Caps on reading each zip. Default: ``ui.uploads.UPLOAD_ARCHIVE_LIMITS``.

    Returns:
        Items in upload order (zip members sorted by name).
    """
    items: list[InspectItem] = []
    for name, path in files:
        if name.lower().endswith(".zip"):
            items.extend(_zip_items(name, Path(path), limits))
        else:
            items.append(_hashed(name, ImageSource(name=name, path=Path(path))))
    return items


def items_from_folder(folder: Path, root: Path) -> list[InspectItem]:
    """Every file under ``folder`` (a folder already checked to be inside ``root``) as items.

    Names are relative to ``root``; files that cannot be read become failure items.
    """
    items = []
    for source in iter_sources(folder):
        path = Path(source.name)
        name = path.relative_to(root).as_posix() if root in path.parents else str(path)
        items.append(_hashed(name, replace(source, name=name)))
    return items


def _failure_result(item: InspectItem) -> CascadeResult:
    return CascadeResult(source=item.name, error=item.failure.detail,
                         error_kind=item.failure.kind.value)


def pending(items: Sequence[InspectItem], bundle_key: str,
            cache: MutableMapping[tuple[str, str], CascadeResult]) -> int:
    """How many items have no cached result for this bundle yet."""
    return sum((bundle_key, item.cache_key) not in cache for item in items)


def run_inspection(bundle: Callable[[], LoadedBundle], bundle_key: str,
                   items: Sequence[InspectItem],
                   cache: MutableMapping[tuple[str, str], CascadeResult],
                   progress: Callable[[int, int], None] | None = None,
                   stages: Callable[[], object] | None = None) -> list[CascadeResult]:
    """Cascade results for every item, computing only those not yet in ``cache``.

    Args:
        bundle: Returns the loaded active bundle; called only when something is computed.
        bundle_key: Identifies the bundle and runtime in cache keys (folder, time stamp, runtime).
        items: The files, in display order.
        cache: (bundle_key, item.cache_key) -> result; updated in place.
        progress: Called with (images done, images to do) after each batch. Default: None.
        stages: Returns the runtime's ``ServingStages``; None runs the Keras models. Called only
            when something is computed. Default: None.

    Returns:
        One result per item, in order, each named as its item.
    """
    from sem_core.inference import predict

    todo: dict[str, InspectItem] = {}
    for item in items:
        key = (bundle_key, item.cache_key)
        if key in cache:
            continue
        if item.failure is not None:
            cache[key] = _failure_result(item)
        else:
            todo.setdefault(item.cache_key, item)
    if todo:
        waiting = list(todo.values())
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if progress:
                progress(done, len(waiting))

        sources = [item.source for item in waiting]
        options = {} if stages is None else {"stages": stages()}
        for item, result in zip(waiting, predict(bundle(), sources, progress=advance, **options)):
            cache[(bundle_key, item.cache_key)] = result
    return [replace(cache[(bundle_key, item.cache_key)], source=item.name) for item in items]


def results_table(items: Sequence[InspectItem], results: Sequence[CascadeResult]) -> pd.DataFrame:
    """The results as a table (``CascadeResult.to_row`` plus the file hash), one row per item."""
    from sem_core.inference import results_frame

    frame = results_frame(results)
    if frame.empty:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    frame["sha256"] = [item.sha256 for item in items]
    return frame


def with_truth(frame: pd.DataFrame, truth: dict[str, str]) -> pd.DataFrame:
    """``frame`` with a ``true_label`` column when some of its files have a known class (the
    demo images' answer key); files without one get None. Unchanged when none has."""
    known = [truth.get(name) for name in frame["source"]]
    if all(label is None for label in known):
        return frame
    return frame.assign(true_label=pd.Series(known, index=frame.index, dtype=object))


@dataclass(frozen=True)
class TruthScore:
    """How the predictions compare with the known classes.

    Attributes:
        known: Scored files whose true class is known.
        correct: Of those, the ones whose final label is the true class.
        unreadable: Files with a known class that could not be scored.
    """

    known: int
    correct: int
    unreadable: int

    @property
    def accuracy(self) -> float:
        """Share of ``known`` that is correct (0 when none is known)."""
        return self.correct / self.known if self.known else 0.0


def truth_score(frame: pd.DataFrame) -> TruthScore | None:
    """Accuracy on the files of ``frame`` with a ``true_label``; None when it has none."""
    if "true_label" not in frame or frame["true_label"].isna().all():
        return None
    labelled = frame[frame["true_label"].notna()]
    scored = labelled[labelled["error"].isna()]
    return TruthScore(known=len(scored),
                      correct=int((scored["final_label"] == scored["true_label"]).sum()),
                      unreadable=len(labelled) - len(scored))


class Status(str, Enum):
    """Which rows the results table shows."""

    ALL = "All"
    SCORED = "Scored"
    REVIEW = "Needs review"
    ERRORS = "Errors"


class SortKey(str, Enum):
    """How the results table is ordered."""

    INPUT = "Input order"
    CONFIDENCE = "Confidence"
    STAGE1 = "Stage-1 probability"
    LABEL = "Final label"
    NAME = "File name"


_SORT_COLUMNS = {SortKey.CONFIDENCE: "confidence", SortKey.STAGE1: "stage1_probability",
                 SortKey.LABEL: "final_label", SortKey.NAME: "source"}


@dataclass(frozen=True)
class ResultFilter:
    """Filters and ordering of the results table.

    Attributes:
        labels: Final labels to show (``UNREADABLE`` for error rows); empty shows all.
        status: Which rows by status. Default: all.
        min_confidence: Hide scored rows below this confidence. Default: 0.0.
        sort_by: Ordering. Default: input order.
        descending: Reverse the ordering. Default: False.
    """

    labels: tuple[str, ...] = ()
    status: Status = Status.ALL
    min_confidence: float = 0.0
    sort_by: SortKey = SortKey.INPUT
    descending: bool = False


def failed(row: dict) -> bool:
    """True when a results-table row is an unreadable file."""
    error = row.get("error")
    return error is not None and not pd.isna(error)


def label_or_unreadable(frame: pd.DataFrame) -> pd.Series:
    """Each row's final label, or ``UNREADABLE`` for error rows."""
    return frame["final_label"].where(frame["error"].isna(), UNREADABLE).fillna(UNREADABLE)


def filter_results(frame: pd.DataFrame, chosen: ResultFilter) -> pd.DataFrame:
    """The rows ``chosen`` asks for, in its order (the index keeps the input position)."""
    if frame.empty:
        return frame
    scored = frame["error"].isna()
    keep = pd.Series(True, index=frame.index)
    if chosen.labels:
        keep &= label_or_unreadable(frame).isin(chosen.labels)
    if chosen.status is Status.SCORED:
        keep &= scored
    elif chosen.status is Status.REVIEW:
        keep &= scored & frame["needs_review"].astype(bool)
    elif chosen.status is Status.ERRORS:
        keep &= ~scored
    if chosen.min_confidence > 0.0:
        keep &= ~scored | (frame["confidence"] >= chosen.min_confidence)
    shown = frame[keep]
    if chosen.sort_by is SortKey.INPUT:
        return shown.iloc[::-1] if chosen.descending else shown
    return shown.sort_values(_SORT_COLUMNS[chosen.sort_by], ascending=not chosen.descending,
                             na_position="last", kind="stable")


def decode(item: InspectItem) -> SemImage:
    """Decode an item's image for display.

    Raises:
        ImageLoadError: When it cannot be decoded.
    """
    if item.failure is not None:
        raise item.failure
    return item.source.load()


def group_by_label(frame: pd.DataFrame, classes: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Rows per final label, in class order, error rows last under ``UNREADABLE``."""
    labels = label_or_unreadable(frame)
    order = [name for name in classes if (labels == name).any()]
    order += sorted(set(labels) - set(order) - {UNREADABLE})
    if (labels == UNREADABLE).any():
        order.append(UNREADABLE)
    return {name: frame[labels == name] for name in order}
