"""The job processes this process started: kept until they end so none is left a zombie."""

from __future__ import annotations

import os
import subprocess

_CHILDREN: dict[int, subprocess.Popen] = {}


def remember(child: subprocess.Popen) -> None:
    """Keep ``child`` until ``reap`` sees it finished."""
    _CHILDREN[child.pid] = child


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
