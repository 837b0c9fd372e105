"""Command-line interface: ``python -m sem_core <command> ...``.

Each command lives next to the code it drives and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed arguments, returning an exit code). Heavy
imports (TensorFlow) happen inside those functions, so ``--help`` stays fast. Every command's
``--help`` shows each option's default, and every command takes ``--verbose``: without it,
TensorFlow's C++ log lines are kept off the output (``sem_core.quiet``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Iterator, Sequence

from sem_core.quiet import QuietStderr

# Modules that contribute commands, in the order they appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "sem_core.data.cli",
    "sem_core.data.synth.cli",
    "sem_core.train.cli",
    "sem_core.inference_cli",
    "sem_core.deploy.cli",
    "sem_core.shift_cli",
    "sem_core.adapt_cli",
    "sem_core.retrain_cli",
)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already states its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text.lower() or action.default in (None, argparse.SUPPRESS)
                or action.option_strings == [] or isinstance(action.default, bool)
                and not action.default):
            return text
        return f"{text} (default: %(default)s)"


def _leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every sub-command parser below it."""
    yield parser
    for action in parser._actions:  # argparse offers no public walk over sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _leaf_parsers(child)


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
    for child in _leaf_parsers(parser):
        child.formatter_class = DefaultsHelpFormatter
        for action in child._actions:  # argparse prints no line for an option without help
            if action.option_strings and action.help is None and action.default not in (
                    None, False, argparse.SUPPRESS):
                action.help = "default: %(default)s"
        if child is not parser and not any(isinstance(action, argparse._SubParsersAction)
                                           for action in child._actions):
            child.add_argument("--verbose", action="store_true",
                               help="let TensorFlow's C++ log lines through")
    return parser


def _quiet_unless(verbose: bool) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext() if verbose else QuietStderr()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        with _quiet_unless(getattr(args, "verbose", False)):
            return int(func(args) or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
