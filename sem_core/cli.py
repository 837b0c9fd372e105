"""Command-line interface: ``python -m sem_core <command> ...``.

Each command lives next to the code it drives and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed arguments, returning an exit code). Heavy
imports (TensorFlow) happen inside those functions, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute commands, in the order they appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "sem_core.data.cli",
    "sem_core.data.synth.cli",
    "sem_core.train.cli",
    "sem_core.inference_cli",
    "sem_core.retrain_cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="python -m sem_core",
        description="SEM defect inspection workbench: data, synthetic SEM, training, inference.",
    )
    from sem_core import __version__

    parser.add_argument("--version", action="version", version=f"sem_core {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
