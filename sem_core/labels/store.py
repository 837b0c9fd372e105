"""The label store: an append-only SQLite log of label decisions, one row per decision.

Every change of an image's label (typed by hand, an accepted suggestion, an "unknown / new
class" flag, a request for review, an undo) is a new row naming the image (sha256 and path), the
label before and after, who, when (UTC), an optional note and the source. Rows are never
changed or deleted (triggers refuse it), so the log is the audit trail; the current label of an
image is the ``new_label`` of its latest row, and undo appends a row that restores the earlier
label. The database runs in WAL mode with ``synchronous=FULL`` and writes each batch in one
``BEGIN IMMEDIATE`` transaction: a crash or a kill at any moment leaves every committed decision
intact and no half-written one. Connections are opened per call, so one store object can serve
several threads (a Streamlit server) and several processes.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sem_core.labels.records import (COLUMNS, DecisionSource, LabelChange, LabelDecision,
                                     LabelStoreError, default_user, utc_timestamp)
from sem_core.labels.schema import SCHEMA_STATEMENTS, SCHEMA_VERSION


class LabelStore:
    """The label log in one SQLite file, created with its schema on first use.

    Args:
        path: Database file; its folder is created when missing.

    Raises:
        LabelStoreError: When the file exists but is not a label store (or is newer).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            version = self._schema_version()
            if version is None:  # a new file: create the schema once, in one transaction
                with self._transaction() as connection:
                    for statement in SCHEMA_STATEMENTS:
                        connection.execute(statement)
                    connection.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                                       ("schema_version", str(SCHEMA_VERSION)))
                    connection.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                                       ("created", utc_timestamp()))
                version = self._schema_version() or 0
        except sqlite3.DatabaseError as error:
            raise LabelStoreError(f"{self.path}: not a usable label database ({error}).") from error
        if version > SCHEMA_VERSION:
            raise LabelStoreError(f"{self.path}: label database schema {version} is newer than "
                                  f"this sem_core reads ({SCHEMA_VERSION}); upgrade sem_core.")

    def _schema_version(self) -> int | None:
        """The recorded schema version, or None for a file without the store's tables."""
        with self.connect() as connection:
            if connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                  "name = 'meta'").fetchone() is None:
                return None
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                                     ).fetchone()
        return None if row is None else int(row[0])

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection with the store's settings (for reads; ``write`` for writes)."""
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or none of it."""
        with self.connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def meta(self) -> dict[str, str]:
        """The store's metadata (schema version, creation time, pinned held-out split)."""
        with self.connect() as connection:
            return dict(connection.execute("SELECT key, value FROM meta").fetchall())

    def record(self, changes: Sequence[LabelChange], *, who: str | None = None,
               ) -> tuple[LabelDecision, ...]:
        """Append decisions in one transaction (all are stored, or none).

        Args:
            changes: The decisions, applied in order (two about one image chain up).
            who: The person deciding. Default: None, the OS user.

        Returns:
            The stored rows, in order.

        Raises:
            LabelStoreError: When the database refuses the write; nothing is stored then.
        """
        person = _person(who)
        batch, at = uuid.uuid4().hex, utc_timestamp()
        stored = []
        with self.write(batch) as connection:
            for change in changes:
                previous = _current_label(connection, change.sha256) or change.base_label
                stored.append(_insert(connection, LabelDecision(
                    0, change.sha256, change.path, previous, change.new_label, person, at,
                    change.note, change.source, batch)))
        return tuple(stored)

    def set_label(self, sha256: str, path: str, new_label: str, *, base_label: str,
                  who: str | None = None, note: str = "",
                  source: DecisionSource = DecisionSource.MANUAL) -> LabelDecision:
        """Record one decision; see ``LabelChange`` for the arguments and ``record`` for errors."""
        return self.record([LabelChange(sha256, path, new_label, base_label, note, source)],
                           who=who)[0]

    def undo(self, decision_id: int, *, who: str | None = None, note: str = "") -> LabelDecision:
        """Append a decision that restores the label an earlier decision replaced.

        Args:
            decision_id: The decision to undo (an undo can be undone too: that is a redo).
            who: The person undoing. Default: None, the OS user.
            note: Free text. Default: "".

        Returns:
            The new ``undo`` row.

        Raises:
            LabelStoreError: When there is no such decision, it is already undone, or the
                image's label has changed since (undo the later decision first).
        """
        person = _person(who)
        batch = uuid.uuid4().hex
        with self.write(batch) as connection:
            target = _fetch(connection, "WHERE id = ?", (int(decision_id),))
            if not target:
                raise LabelStoreError(f"{self.path}: no decision with id {decision_id}.")
            decision = target[0]
            undone_by = connection.execute("SELECT id FROM decisions WHERE undoes = ?",
                                           (decision.id,)).fetchone()
            if undone_by:
                raise LabelStoreError(f"{self.path}: decision {decision.id} ({decision.path}) was "
                                      f"already undone by decision {undone_by[0]}.")
            current = _current_label(connection, decision.sha256)
            if current != decision.new_label:
                raise LabelStoreError(
                    f"{self.path}: {decision.path} is labelled {current!r} since a later decision; "
                    f"undo that one first (decision {decision.id} set {decision.new_label!r}).")
            return _insert(connection, LabelDecision(
                0, decision.sha256, decision.path, current, decision.previous_label, person,
                utc_timestamp(), note, DecisionSource.UNDO, batch, decision.id))

    def last_undoable(self, *, who: str | None = None) -> LabelDecision | None:
        """The latest decision (by ``who`` when given) that ``undo`` would accept, or None."""
        with self.connect() as connection:
            clause = "WHERE source != 'undo' AND id NOT IN " \
                     "(SELECT undoes FROM decisions WHERE undoes IS NOT NULL)"
            parameters: tuple = ()
            if who is not None:
                clause, parameters = clause + " AND who = ?", (who,)
            for decision in reversed(_fetch(connection, clause, parameters)):
                if _current_label(connection, decision.sha256) == decision.new_label:
                    return decision
        return None

    def history(self, sha256: str | None = None) -> tuple[LabelDecision, ...]:
        """Every decision in log order, or those about one image."""
        with self.connect() as connection:
            if sha256 is None:
                return tuple(_fetch(connection, "", ()))
            return tuple(_fetch(connection, "WHERE sha256 = ?", (sha256.lower(),)))

    def current(self) -> dict[str, LabelDecision]:
        """The latest decision per image: sha256 -> row (its ``new_label`` is the label now)."""
        with self.connect() as connection:
            rows = _fetch(connection, "WHERE id IN (SELECT MAX(id) FROM decisions GROUP BY sha256)",
                          ())
        return {row.sha256: row for row in rows}

    def count(self) -> int:
        """Number of decisions in the log."""
        with self.connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

    @contextmanager
    def write(self, batch: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; a database error becomes a ``LabelStoreError``."""
        try:
            with self._transaction() as connection:
                yield connection
        except sqlite3.DatabaseError as error:
            raise LabelStoreError(f"{self.path}: write of batch {batch} refused, nothing stored "
                                  f"({error}).") from error


def _person(who: str | None) -> str:
    name = (who or "").strip()
    return name or default_user()


def _current_label(connection: sqlite3.Connection, sha256: str) -> str | None:
    row = connection.execute("SELECT new_label FROM decisions WHERE sha256 = ? "
                             "ORDER BY id DESC LIMIT 1", (sha256,)).fetchone()
    return None if row is None else str(row[0])


def _fetch(connection: sqlite3.Connection, clause: str, parameters: tuple) -> list[LabelDecision]:
    rows = connection.execute(f"SELECT {', '.join(COLUMNS)} FROM decisions {clause} ORDER BY id",
                              parameters).fetchall()
    return [LabelDecision(*row[:8], DecisionSource(row[8]), row[9], row[10]) for row in rows]


def _insert(connection: sqlite3.Connection, decision: LabelDecision) -> LabelDecision:
    cursor = connection.execute(
        "INSERT INTO decisions(sha256, path, previous_label, new_label, who, at, note, source, "
        "batch, undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (decision.sha256, decision.path, decision.previous_label, decision.new_label,
         decision.who, decision.at, decision.note, decision.source.value, decision.batch,
         decision.undoes))
    return LabelDecision(int(cursor.lastrowid), *(getattr(decision, name) for name in COLUMNS[1:]))
