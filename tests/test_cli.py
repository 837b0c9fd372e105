import subprocess
import sys

from sem_core.cli import build_parser


def test_every_command_has_help(capsys):
    parser = build_parser()
    names = [action for action in parser._subparsers._group_actions][0].choices if parser._subparsers else {}
    for name, sub in names.items():
        text = sub.format_help()
        assert name in text and "usage" in text


def test_module_entry_point_prints_help():
    result = subprocess.run(
        [sys.executable, "-m", "sem_core", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "usage: python -m sem_core" in result.stdout
