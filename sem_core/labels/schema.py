"""The SQL schema of the label store: tables, indexes and the triggers that keep it append-only.

``decisions`` is the log; ``heldout`` the test images pinned before any relabelling (so old and
new bundles are compared on the same images); ``meta`` a few key-value facts. Triggers refuse
every UPDATE and DELETE on all three, so not even a bug (or a hand-run SQL shell) can rewrite
history without first dropping them, which is visible in the schema.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

_APPEND_ONLY_TABLES = ("decisions", "heldout", "meta")

SCHEMA_STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
        path TEXT NOT NULL,
        previous_label TEXT NOT NULL,
        new_label TEXT NOT NULL,
        who TEXT NOT NULL CHECK (length(who) > 0),
        at TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL CHECK (source IN
            ('manual', 'accepted_suggestion', 'undo', 'flag', 'review_request')),
        batch TEXT NOT NULL,
        undoes INTEGER REFERENCES decisions(id))""",
    "CREATE INDEX IF NOT EXISTS decisions_by_image ON decisions(sha256, id)",
    "CREATE INDEX IF NOT EXISTS decisions_by_undo ON decisions(undoes)",
    """CREATE TABLE IF NOT EXISTS heldout (
        sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
        path TEXT NOT NULL)""",
    *(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows are never changed or deleted'); "
        "END"
        for table in _APPEND_ONLY_TABLES
        for action in ("UPDATE", "DELETE")
    ),
)
