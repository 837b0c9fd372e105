"""A quiet command line: no TensorFlow C++ log line unless --verbose, defaults in every --help."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sem_core.cli import _leaf_parsers, build_parser
from sem_core.quiet import QuietStderr, is_tensorflow_log_line

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def untrained_bundle(tmp_path_factory) -> Path:
    from bundle_fixtures import make_untrained_bundle

    return make_untrained_bundle(tmp_path_factory.mktemp("quiet") / "bundle")
TF_LINES = [b"I0000 00:00:1796504745.002917   10205 port.cc:153] oneDNN custom operations are on.",
            (b"E0000 00:00:1796504745.0   10205 graph.cc:1] NodeDef mentions attribute "
             b"use_unbounded_threadpool"),
            b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
            b"To enable the following instructions: AVX2 FMA, in other operations, rebuild"]


def _tensorflow_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if is_tensorflow_log_line(line.encode()) or "oneDNN" in line
            or "cpu_feature_guard" in line or "absl::" in line]


@pytest.mark.parametrize("line", TF_LINES)
def test_tensorflow_log_lines_are_recognised(line):
    assert is_tensorflow_log_line(line)


@pytest.mark.parametrize("line", [b"predict: 100%|####| 3/3", b"error: x.png: the file is empty",
                                  b"Traceback (most recent call last):", b"I0000 not a log line"])
def test_other_lines_are_not(line):
    assert not is_tensorflow_log_line(line)


def test_the_filter_drops_log_lines_on_descriptor_2_and_passes_the_rest(capfd):
    with QuietStderr():
        for line in TF_LINES:
            os.write(2, line + b"\n")
        os.write(2, b"a C library's own message\n")
        print("a message from Python", file=sys.stderr)
    captured = capfd.readouterr().err
    assert "a C library's own message" in captured and "a message from Python" in captured
    assert _tensorflow_lines(captured) == []


def test_every_option_with_a_default_shows_it_in_help():
    missing = []
    for parser in _leaf_parsers(build_parser()):
        lines = parser.format_help().split("\n  -")  # one chunk per option
        for action in parser._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
                continue
            chunk = next((line for line in lines
                          if line.lstrip("-").startswith(action.option_strings[-1].lstrip("-"))),
                         "")
            if "default" not in chunk.lower():
                missing.append(f"{parser.prog} {action.option_strings[-1]}")
    assert missing == []


def _run(arguments: list[str]) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("TF_CPP")}
    return subprocess.run([sys.executable, "-m", "sem_core", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=environment,
                          check=False)


def test_predict_help_prints_no_tensorflow_line_and_shows_defaults():
    result = _run(["predict", "--help"])
    assert result.returncode == 0
    assert _tensorflow_lines(result.stdout + result.stderr) == []
    assert "(default 32)" in result.stdout and "--verbose" in result.stdout


@pytest.mark.slow
def test_a_full_predict_is_quiet_and_verbose_brings_the_log_back(untrained_bundle, tmp_path):
    from archive_fixtures import good_png

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(good_png(1))
    quiet = _run(["predict", "--bundle", str(untrained_bundle), "--input", str(tmp_path / "in"),
                  "--out", str(tmp_path / "quiet.csv")])
    assert quiet.returncode == 0, quiet.stderr
    assert "1 files: 1 classified" in quiet.stdout
    assert _tensorflow_lines(quiet.stdout + quiet.stderr) == []
    verbose = _run(["predict", "--bundle", str(untrained_bundle), "--input",
                    str(tmp_path / "in"), "--out", str(tmp_path / "verbose.csv"), "--verbose"])
    assert verbose.returncode == 0
    # The control: this TensorFlow build does log at start-up, so the quiet run's silence is
    # the filter's doing.
    assert _tensorflow_lines(verbose.stderr)
