"""``python -m sem_core labels set|flag|undo|history|export``: the label log from a terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``labels`` command and its sub-commands."""
    parser = subparsers.add_parser(
        "labels", help="record, undo, list and export label corrections",
        description="Work with the append-only label log (a SQLite file): every change is a new "
                    "row naming who, when and why; undo appends a row restoring the earlier label.")
    actions = parser.add_subparsers(dest="labels_action", metavar="ACTION", required=True)

    set_parser = actions.add_parser("set", help="set an image's label ('unknown' for a new class)")
    _image_arguments(set_parser)
    set_parser.add_argument("--label", required=True,
                            help="one of the 8 classes, or 'unknown' (unknown / new class)")
    flag_parser = actions.add_parser("flag", help="ask for a review of an image (label unchanged)")
    _image_arguments(flag_parser)
    undo_parser = actions.add_parser("undo", help="undo a decision (appends a row)")
    undo_parser.add_argument("--db", required=True, help="label database file")
    which = undo_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="the decision to undo")
    which.add_argument("--last", action="store_true", help="the latest decision (by --who if set)")
    undo_parser.add_argument("--who", default=None, help="your name (default: the OS user)")
    undo_parser.add_argument("--note", default="")
    history_parser = actions.add_parser("history", help="list decisions, oldest first")
    history_parser.add_argument("--db", required=True, help="label database file")
    history_parser.add_argument("--image", default=None, help="only decisions about this file")
    history_parser.add_argument("--csv", default=None, help="also write the list to this CSV")
    export_parser = actions.add_parser("export", help="write the corrected dataset")
    export_parser.add_argument("--db", required=True, help="label database file")
    export_parser.add_argument("--data", required=True, help="base dataset folder or manifest CSV")
    export_parser.add_argument("--out", required=True, help="output folder")
    export_parser.add_argument("--format", choices=("csv", "kaggle"), default="csv",
                               help="manifest CSV or Kaggle folder layout (default csv)")
    parser.set_defaults(func=run)


def _image_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="label database file (created if missing)")
    parser.add_argument("--data", required=True, help="base dataset folder or manifest CSV")
    parser.add_argument("--image", required=True, help="the image file")
    parser.add_argument("--who", default=None, help="your name (default: the OS user)")
    parser.add_argument("--note", default="", help="why")


def run(args: argparse.Namespace) -> int:
    """Run a ``labels`` action; 0 on success, 1 on a user-fixable error."""
    from sem_core.errors import SemCoreError

    try:
        return {"set": _set, "flag": _set, "undo": _undo, "history": _history,
                "export": _export}[args.labels_action](args)
    except (SemCoreError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _base(data: str):
    from sem_core.data.layouts import load_dataset
    from sem_core.labels import ensure_sha256

    return ensure_sha256(load_dataset(data).manifest)


def _set(args: argparse.Namespace) -> int:
    from sem_core.classes import canonical_class
    from sem_core.labels import (UNKNOWN_CLASS, DecisionSource, LabelStore, file_sha256,
                                 pin_heldout)

    base = _base(args.data)
    sha256 = file_sha256(args.image)
    entry = next((item for item in base.entries if item.sha256 == sha256), None)
    if entry is None:
        raise ValueError(f"{args.image}: this file is not part of the dataset {args.data}.")
    store = LabelStore(args.db)
    pin_heldout(store, base)  # fix the held-out split before the first change
    current = store.current().get(sha256)
    if args.labels_action == "flag":
        label = current.new_label if current else entry.label
        source = DecisionSource.REVIEW_REQUEST
    elif args.label.strip().lower() in ("unknown", "new", "new_class"):
        label, source = UNKNOWN_CLASS, DecisionSource.FLAG
    else:
        label, source = canonical_class(args.label), DecisionSource.MANUAL
        if label is None or label == "Defective":
            raise ValueError(f"{args.label!r} is not one of the 8 classes or 'unknown'.")
    decision = store.set_label(sha256, entry.path, label, base_label=entry.label, who=args.who,
                               note=args.note, source=source)
    print(f"decision {decision.id}: {entry.path} {decision.previous_label} -> {decision.new_label} "
          f"({decision.source.value}, by {decision.who})")
    return 0


def _undo(args: argparse.Namespace) -> int:
    from sem_core.labels import LabelStore

    store = LabelStore(args.db)
    target = args.id
    if args.last:
        latest = store.last_undoable(who=args.who)
        if latest is None:
            raise ValueError(f"{args.db}: nothing to undo{' by ' + args.who if args.who else ''}.")
        target = latest.id
    decision = store.undo(target, who=args.who, note=args.note)
    print(f"decision {decision.id} undoes {target}: {decision.path} {decision.previous_label} -> "
          f"{decision.new_label}")
    return 0


def _history(args: argparse.Namespace) -> int:
    import pandas as pd

    from sem_core.labels import LabelStore, file_sha256

    store = LabelStore(args.db)
    rows = store.history(file_sha256(args.image) if args.image else None)
    frame = pd.DataFrame([row.to_dict() for row in rows])
    if args.csv:
        frame.to_csv(args.csv, index=False)
    if frame.empty:
        print("no decisions")
    else:
        shown = frame[["id", "at", "who", "source", "previous_label", "new_label", "path", "note"]]
        print(shown.to_string(index=False))
    return 0


def _export(args: argparse.Namespace) -> int:
    from sem_core.labels import LabelStore, correct_manifest, export_corrected

    corrected = correct_manifest(_base(args.data), LabelStore(args.db))
    out = export_corrected(corrected, Path(args.out), args.format)
    print(f"wrote {len(corrected.manifest)} images ({len(corrected.relabelled)} relabelled, "
          f"{len(corrected.unknown)} unknown left out) to {out}; version {corrected.version[:16]}")
    return 0
