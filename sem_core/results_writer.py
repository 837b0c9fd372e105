"""Write cascade results to a CSV or Parquet table as they arrive, in constant memory.

``ResultsWriter`` appends rows in groups (a CSV row block or a Parquet row group) to a temporary
file beside the output and renames it to the output only when the run finished, so a killed run
leaves a ``*.partial`` file, never a half table under the real name; an existing output is never
overwritten. Every group has the same columns (``RESULT_COLUMNS``, the columns of
``CascadeResult.to_row``) and, for Parquet, the same explicit schema, so a group whose error or
stage-2 columns are all empty still matches the rest. Only small counters are kept for the
end-of-run ``ResultsSummary``.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from sem_core.cascade import CascadeResult
from sem_core.classes import CLASSES, STAGE2_CLASSES

TIMED_STAGES = ("decode", "stage1", "stage2")
_TEXT_COLUMNS = ("source", "final_label", "stage1_decision", "error", "error_kind")
_INTEGER_COLUMNS = ("width", "height")
_BOOLEAN_COLUMNS = ("needs_review",)
RESULT_COLUMNS: tuple[str, ...] = (
    "source", "final_label", "confidence", "stage1_probability", "stage1_decision",
    "needs_review", "error", "error_kind", "width", "height",
    *(f"p_{name}" for name in STAGE2_CLASSES),
    *(f"prob_{name}" for name in CLASSES),
    *(f"{stage}_ms" for stage in TIMED_STAGES),
)

_COLUMN_SET = frozenset(RESULT_COLUMNS)


class ResultFormat(str, Enum):
    """Table formats a results file can have, by file suffix."""

    CSV = ".csv"
    PARQUET = ".parquet"

    @classmethod
    def from_path(cls, path: Path) -> ResultFormat:
        """The format named by ``path``'s suffix (case-insensitive).

        Raises:
            ValueError: When the suffix is neither .csv nor .parquet.
        """
        try:
            return cls(path.suffix.lower())
        except ValueError:
            raise ValueError(f"Received `out={str(path)!r}`; a results table must end in "
                             f"{' or '.join(item.value for item in cls)}.") from None


@dataclass(frozen=True)
class ResultsSummary:
    """What a finished run wrote.

    Attributes:
        path: The results table.
        files: Rows written, one per input file.
        errors: Rows for files that could not be decoded.
        stage2_images: Images that stage 2 classified.
        label_counts: Final label -> images, for every class in ``CLASSES`` order (zeros kept).
    """

    path: Path
    files: int
    errors: int
    stage2_images: int
    label_counts: dict[str, int] = field(default_factory=dict)

    @property
    def classified(self) -> int:
        """Rows with a prediction (files minus errors)."""
        return self.files - self.errors

    @property
    def stage2_share(self) -> float:
        """Fraction of classified images that went on to stage 2 (0 when none was classified)."""
        return self.stage2_images / max(self.classified, 1)


def result_schema():
    """The Parquet (pyarrow) schema of a results table: one typed, nullable field per column."""
    import pyarrow as pa

    def column_type(name: str):
        if name in _TEXT_COLUMNS:
            return pa.large_string()  # what pandas writes for text, so old and new files match
        if name in _INTEGER_COLUMNS:
            return pa.int64()
        if name in _BOOLEAN_COLUMNS:
            return pa.bool_()
        return pa.float64()

    return pa.schema([pa.field(name, column_type(name), nullable=True) for name in RESULT_COLUMNS])


class _CsvSink:
    """Appends row blocks to a CSV file; the header is written once, on opening."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=RESULT_COLUMNS, lineterminator="\n")
        self._writer.writeheader()

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        self._writer.writerows(rows)
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class _ParquetSink:
    """Appends each row block to a Parquet file as one row group with the fixed schema."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self._schema = result_schema()
        self._writer = pq.ParquetWriter(path, self._schema)

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        self._writer.write_table(pa.Table.from_pylist(rows, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def _publish(temporary: Path, path: Path) -> None:
    """Give the finished temporary file its final name without replacing an existing file."""
    try:
        os.link(temporary, path)  # unlike a rename, fails when ``path`` exists
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: check, then rename
        if not path.exists():
            os.replace(temporary, path)
            return
    else:
        temporary.unlink()
        return
    raise FileExistsError(f"{path} appeared while the results were being written; it was left as "
                          f"it is and the results are kept in {temporary}.")


class ResultsWriter:
    """Context manager that streams ``CascadeResult`` records into a CSV or Parquet table.

    Rows are buffered up to ``rows_per_group`` and then appended, so memory does not grow with the
    number of images (Parquet keeps a little metadata per row group, hence groups of hundreds of
    rows rather than one per cascade batch). On a clean exit the temporary file is renamed to
    ``path``; on an exception it is deleted.

    Args:
        path: Output table; its suffix (.csv or .parquet) picks the format. Its folder is created.
        rows_per_group: Rows per appended block (Parquet row group). Default: 1024.

    Raises:
        ValueError: For an unknown suffix or ``rows_per_group`` < 1.
        FileExistsError: On entering when ``path`` exists, and on finishing when it appeared
            meanwhile (the finished temporary file is then kept and named in the message).
    """

    def __init__(self, path: Path, *, rows_per_group: int = 1024) -> None:
        if rows_per_group < 1:
            raise ValueError(f"Received `rows_per_group={rows_per_group}`; expected at least 1.")
        self.path = Path(path)
        self.format = ResultFormat.from_path(self.path)
        self.rows_per_group = rows_per_group
        self.temporary_path: Path | None = None
        self._sink: _CsvSink | _ParquetSink | None = None
        self._pending: list[dict[str, Any]] = []
        self._files = 0
        self._errors = 0
        self._stage2_images = 0
        self._labels: Counter[str] = Counter()

    def __enter__(self) -> ResultsWriter:
        if self.path.exists():
            raise FileExistsError(f"{self.path} already exists; results are never overwritten.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial_name = f"{self.path.name}.{uuid.uuid4().hex[:8]}.partial"
        self.temporary_path = self.path.with_name(partial_name)
        self.temporary_path.touch(exist_ok=False)  # unlike mkstemp, keeps the umask's permissions
        sink_type = _CsvSink if self.format is ResultFormat.CSV else _ParquetSink
        try:
            self._sink = sink_type(self.temporary_path)
        except BaseException:
            self.temporary_path.unlink(missing_ok=True)
            raise
        return self

    def write(self, result: CascadeResult) -> None:
        """Add one result; rows reach the file every ``rows_per_group`` results."""
        if self._sink is None:
            raise RuntimeError("ResultsWriter.write() called outside its `with` block.")
        row = result.to_row()
        unknown = row.keys() - _COLUMN_SET
        if unknown:
            raise ValueError(f"{result.source}: columns {sorted(unknown)} are not in "
                             "RESULT_COLUMNS; add them there.")
        self._pending.append(row)
        self._files += 1
        if result.ok:
            self._labels[result.final_label] += 1
            self._stage2_images += result.stage2_probabilities is not None
        else:
            self._errors += 1
        if len(self._pending) >= self.rows_per_group:
            self._flush()

    def summary(self) -> ResultsSummary:
        """Counts of what has been written so far."""
        return ResultsSummary(path=self.path, files=self._files, errors=self._errors,
                              stage2_images=self._stage2_images,
                              label_counts={label: self._labels[label] for label in CLASSES})

    def _flush(self) -> None:
        if self._pending:
            self._sink.write_rows(self._pending)
            self._pending = []

    def __exit__(self, error_type, error, traceback) -> None:
        try:
            if error_type is None:
                self._flush()
            self._sink.close()
        except BaseException:
            self.temporary_path.unlink(missing_ok=True)
            raise
        finally:
            self._sink = None
        if error_type is None:
            _publish(self.temporary_path, self.path)
        else:
            self.temporary_path.unlink(missing_ok=True)
