"""``python -m sem_core synth``: write a synthetic SEM dataset (and optionally a contact sheet)."""

from __future__ import annotations

import argparse
import sys

from sem_core.data.synth.tools import DEFAULT_TOOL, TOOLS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` command."""
    parser = subparsers.add_parser(
        "synth",
        help="generate a synthetic SEM defect dataset in the Kaggle layout",
        description="Generate a reproducible synthetic SEM defect dataset (8 classes, 70/15/15 "
        "splits) with masks, JSON sidecars and manifest.csv.",
    )
    parser.add_argument("--out", required=True, help="output folder (must be empty)")
    parser.add_argument("--per-class", type=int, required=True, help="images per class, all splits")
    parser.add_argument("--size", type=int, default=224, help="image side in px (default 224)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--sheet", default=None, help="also write a contact sheet PNG here")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument(
        "--label-noise",
        type=float,
        default=0.0,
        help="label flip rate on the training split (default 0)",
    )
    parser.add_argument(
        "--label-noise-mode",
        choices=("symmetric", "structured"),
        default="symmetric",
        help="how labels flip (default symmetric)",
    )
    parser.add_argument(
        "--no-presentation",
        action="store_true",
        help="skip annotations, borders and the file-format mix",
    )
    parser.add_argument(
        "--ease",
        type=float,
        default=0.0,
        help="move every image's defect size, visibility and SNR toward the easy end: 0 follows "
        "the specification (default), 1 gives the largest, most visible defects at the top SNR",
    )
    parser.add_argument(
        "--difficulty",
        choices=("standard", "hard"),
        default="standard",
        help="difficulty preset: 'standard' keeps every defect visible and recognisable (the "
        "visibility contract); 'hard' reproduces version 1 of the specification (default "
        "standard)",
    )
    parser.add_argument(
        "--tool",
        choices=tuple(TOOLS),
        default=DEFAULT_TOOL,
        help="tool profile: 'mixed' keeps the difficulty preset's framing and variety "
        "(default); 'a' and 'b' are two tools of different fabs, for domain-shift "
        "benchmarks (see docs/synthetic-data.md)",
    )
    parser.add_argument(
        "--clean-twins",
        action="store_true",
        help="also write each training defect image's clean twin (same scene and noise, no "
        "defect) as an extra Clean training image, so a screener learns the defect itself",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a previous synthetic dataset in --out"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from sem_core.data.synth.sheet import contact_sheet
    from sem_core.data.synth.writer import write_dataset
    from sem_core.errors import SemCoreError

    try:
        result = write_dataset(
            args.out,
            args.per_class,
            size=args.size,
            seed=args.seed,
            workers=args.workers,
            label_noise=args.label_noise,
            label_noise_mode=args.label_noise_mode,
            overwrite=args.overwrite,
            progress=not args.quiet,
            presentation=not args.no_presentation,
            ease=args.ease,
            difficulty=args.difficulty,
            tool=args.tool,
            clean_twins=args.clean_twins,
        )
    except (SemCoreError, ValueError) as error:
        print(f"synth: {error}", file=sys.stderr)
        return 2
    rate = result.images / max(result.seconds, 1e-9)
    if result.failures:
        print(f"synth: {len(result.failures)} image(s) failed and were left out", file=sys.stderr)
    print(
        f"wrote {result.images} images to {result.out_dir} in {result.seconds:.1f} s "
        f"({rate:.1f} images/s); manifest: {result.manifest}"
    )
    if args.sheet:
        path = contact_sheet(
            args.sheet,
            seed=args.seed,
            size=args.size,
            presentation=not args.no_presentation,
            ease=args.ease,
            difficulty=args.difficulty,
            tool=args.tool,
        )
        print(f"contact sheet: {path}")
    return 0
