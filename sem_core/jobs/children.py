"""The job processes this process started: kept until they end so none is left a zombie."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]

_CHILDREN: dict[int, subprocess.Popen] = {}


def remember(child: subprocess.Popen) -> None:
    """Keep ``child`` until ``reap`` sees it finished."""
    _CHILDREN[child.pid] = child


def spawn(arguments: list[str], log_file: Path, python: str = sys.executable) -> subprocess.Popen:
    """Start ``python -m sem_core <arguments>`` in its own session, output appended to ``log_file``.

    The child finds ``sem_core`` from this checkout (``REPOSITORY`` on ``PYTHONPATH``) and
    outlives the app's process group, so closing the page or stopping Streamlit does not kill it.
    """
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH", "")]))}
    with open(log_file, "ab") as log:
        child = subprocess.Popen([python, "-m", "sem_core", *arguments], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, env=environment,
                                 start_new_session=True)
    remember(child)
    return child


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our child and has ended."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)


def signal_quietly(pid: int, number: int) -> None:
    """Send signal ``number`` to ``pid``; a process that is gone or not ours is left alone."""
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass
