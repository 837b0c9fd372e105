"""Keep TensorFlow's C++ logging out of a command's output (``--verbose`` lets it through).

TensorFlow 2.21 writes start-up lines (oneDNN, cpu_feature_guard, absl's "before
InitializeLog" warning) and, while training, ``E0000 ... use_unbounded_threadpool`` straight to
file descriptor 2, some of them before ``TF_CPP_MIN_LOG_LEVEL`` is consulted. ``QuietStderr``
therefore does both: it sets the level before TensorFlow is imported, and it routes descriptor
2 through a filter that drops lines shaped like TensorFlow's C++ log lines and passes every
other byte on. Python's own ``sys.stderr`` (progress bars, messages, tracebacks) is pointed at
the real terminal and bypasses the filter entirely (a stream a caller put there is kept).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from typing import Self

# "I0000 00:00:1796504745.002917   10205 port.cc:153] ...", and absl's one-time notice; the
# cpu_feature_guard message continues on a second line that starts "To enable the following".
_LOG_LINE = re.compile(rb"^(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ [^ \]]+:\d+\] "
                       rb"|WARNING: All log messages before absl::InitializeLog\(\)"
                       rb"|To enable the following instructions: )")


def is_tensorflow_log_line(line: bytes) -> bool:
    """True for a line TensorFlow's C++ logging writes."""
    return bool(_LOG_LINE.match(line))


class QuietStderr:
    """Context manager: TensorFlow C++ log lines on descriptor 2 are dropped inside it."""

    def __init__(self) -> None:
        self._saved_fd: int | None = None
        self._saved_stderr = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._saved_stderr = sys.stderr
        if sys.stderr is sys.__stderr__:  # leave a caller's own stream (a test's capture) alone
            sys.stderr = open(os.dup(self._saved_fd), "w", buffering=1,
                              encoding=getattr(self._saved_stderr, "encoding", None) or "utf-8",
                              errors="backslashreplace")
        self._thread = threading.Thread(target=self._forward, args=(read_end,), daemon=True)
        self._thread.start()
        return self

    def _forward(self, read_end: int) -> None:
        pending = b""
        with open(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not is_tensorflow_log_line(line):
                        os.write(self._saved_fd, line + b"\n")
        if pending and not is_tensorflow_log_line(pending):
            os.write(self._saved_fd, pending)

    def __exit__(self, *exc_info) -> None:
        sys.stderr.flush()
        replaced, sys.stderr = sys.stderr, self._saved_stderr
        if replaced is not self._saved_stderr:
            replaced.close()
        os.dup2(self._saved_fd, 2)  # closes the pipe's last writer: the forwarder sees the end
        self._thread.join(timeout=5)
        os.close(self._saved_fd)
