"""``python -m sem_core dataset check|manifest|export``: inspect, index and re-lay-out datasets.

Exit codes: 0 when the command ran (also when it found bad files or leakage: those are findings,
listed in the output), 1 when an export could not be written, 2 when the dataset path is unusable
or an argument is wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sem_core.data.vocabulary import DEFAULT_SPLIT_FRACTIONS

# Mirrors sem_core.data.dedup.DEFAULT_MAX_DISTANCE (a test keeps them equal); importing dedup
# here would load NumPy, SciPy and pandas just to print --help.
_DEFAULT_MAX_DISTANCE = 6

_LAYOUTS_HELP = (
    "DIR may be the Kaggle layout (master_dataset / stage1_binary_dataset / "
    "stage2_multiclass_dataset, each Train|Validation|Test/<class>), a folder of class folders "
    "with or without "
    "train/val/test folders (above or below the class folders, any case), or a manifest CSV "
    "(columns path,label[,split,sha256,source]). Class folders are matched case-insensitively "
    "with common synonyms (bridge, crack, open, short, scratch, via, malformed_vias, good, "
    "none, ...)."
)


def parse_class_map(text: str) -> dict[str, str]:
    """Parse ``"cmp=Other,ler=Other"`` into a mapping.

    Raises:
        argparse.ArgumentTypeError: When a pair lacks ``=`` or a side is empty.
    """
    mapping = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, separator, target = pair.partition("=")
        if not separator or not name.strip() or not target.strip():
            raise argparse.ArgumentTypeError(
                f"expected NAME=CLASS pairs such as cmp=Other, received {pair!r}"
            )
        mapping[name.strip()] = target.strip()
    return mapping


def _parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(
            f"expected three numbers such as 0.7,0.15,0.15, received {text!r}"
        )
    return values


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset", metavar="DIR", help="Dataset folder or manifest CSV. " + _LAYOUTS_HELP
    )
    parser.add_argument(
        "--class-map",
        type=parse_class_map,
        default=None,
        metavar="NAME=CLASS,...",
        help="Extra folder-name mapping, e.g. cmp=Other,ler=Other,particle=Other. "
        "Folders matching no class are reported and left out.",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Seed of the split made for images without a split folder (default: 0).",
    )
    parser.add_argument(
        "--max-distance",
        type=int,
        default=_DEFAULT_MAX_DISTANCE,
        metavar="BITS",
        help="Perceptual-hash distance up to which two images count as near duplicates "
        f"(default: {_DEFAULT_MAX_DISTANCE}; 0 = same picture up to resizing, flips and "
        "rotations; -1 = identical files only).",
    )
    parser.add_argument(
        "--fractions",
        type=_parse_fractions,
        default=DEFAULT_SPLIT_FRACTIONS,
        metavar="TRAIN,VAL,TEST",
        help="Shares of that split per class (default: 0.7,0.15,0.15).",
    )


def _load(args: argparse.Namespace):
    """Load the dataset named in ``args``; prints the reason and returns None when unusable."""
    from sem_core.data.layouts import load_dataset
    from sem_core.errors import DatasetError

    try:
        return load_dataset(
            args.dataset,
            class_map=args.class_map,
            seed=args.seed,
            fractions=args.fractions,
            max_distance=args.max_distance,
            progress=True,
        )
    except (DatasetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _run_check(args: argparse.Namespace) -> int:
    from sem_core.data.check import report_for

    loaded = _load(args)
    if loaded is None:
        return 2
    report = report_for(loaded, args.dataset)
    print(report.to_text(), end="")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(report.to_json() + "\n", encoding="utf-8")
        print(f"JSON report written to {args.json}")
    return 0


def _summary(loaded) -> str:
    return (
        f"{len(loaded.manifest)} images ({loaded.layout.value} layout), "
        f"{len(loaded.bad_files)} bad files and {len(loaded.unknown_folders)} unknown folders "
        "left out"
        + (
            " (run `dataset check` for details)."
            if loaded.bad_files or loaded.unknown_folders
            else "."
        )
    )


def _run_manifest(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 2
    written = loaded.manifest.write_csv(args.out)
    print(f"Manifest of {_summary(loaded)}\nWritten to {written}")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from sem_core.data.export import LinkMode, export_kaggle_layout
    from sem_core.errors import DatasetError

    loaded = _load(args)
    if loaded is None:
        return 2
    try:
        out = export_kaggle_layout(
            loaded.manifest, args.out, link=LinkMode.COPY if args.copy else LinkMode.HARD
        )
    except (DatasetError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Exported {_summary(loaded)}\nKaggle layout written to {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dataset`` command and its ``check``, ``manifest`` and ``export`` sub-commands."""
    dataset = subparsers.add_parser(
        "dataset",
        help="Check a dataset, write its manifest, or export it to the Kaggle layout.",
        description="Read a dataset in any supported layout. " + _LAYOUTS_HELP,
    )
    commands = dataset.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", required=True)

    check = commands.add_parser(
        "check",
        help="Print class counts per split, bad files, duplicates, leakage and label conflicts.",
        description="Decode and hash every image, then report images per class and split, "
        "every bad file with its reason, groups of identical or near-duplicate images "
        "(resized, flipped or rotated copies), duplicates spanning splits (leakage) and "
        "images under two labels. Exits 0 even when it finds problems; 2 when DIR cannot be "
        "read as a dataset.",
    )
    _add_common(check)
    check.add_argument("--json", metavar="OUT", help="Also write the full report as JSON to OUT.")
    check.set_defaults(func=_run_check)

    manifest = commands.add_parser(
        "manifest",
        help="Write the dataset's manifest CSV (path, label, split, sha256, source).",
        description="Read DIR, split images that have no split folder (seeded, stratified, "
        "near-duplicates kept together) and write one CSV row per usable image. Paths under "
        "the CSV's folder are stored relative to it.",
    )
    _add_common(manifest)
    manifest.add_argument("--out", required=True, metavar="CSV", help="Manifest file to write.")
    manifest.set_defaults(func=_run_manifest)

    export = commands.add_parser(
        "export",
        help="Write the dataset as the Kaggle layout (master, stage 1, stage 2 views).",
        description="Read DIR and write OUT/master_dataset, OUT/stage1_binary_dataset and "
        "OUT/stage2_multiclass_dataset (each Train|Validation|Test/<class>/<file>) plus "
        "OUT/manifest.csv. Files are hard-linked where possible (copied otherwise); existing "
        "files with other content are never overwritten (exit 1, nothing written).",
    )
    _add_common(export)
    export.add_argument("--out", required=True, metavar="OUT", help="Output folder.")
    export.add_argument(
        "--copy", action="store_true", help="Copy files instead of hard-linking them."
    )
    export.set_defaults(func=_run_export)
