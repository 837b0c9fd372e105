"""A writer killed with SIGKILL in the middle of a burst loses no committed decision and leaves
no partial one."""

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sem_core.labels import LabelStore

REPOSITORY = Path(__file__).resolve().parents[2]
BATCH = 5

# Writes batches of 5 decisions forever; prints a batch's number once its commit returned.
WRITER = f"""
import sys
from sem_core.labels import LabelChange, LabelStore
store = LabelStore(sys.argv[1])
number = 0
while True:
    store.record([LabelChange(f"{{number:060d}}{{item:04d}}", f"img_{{number}}_{{item}}.png",
                              "Cracks" if item % 2 else "Vias", "Clean",
                              note=f"{{number}}/{{item}}")
                  for item in range({BATCH})], who="writer")
    print(number, flush=True)
    number += 1
"""


def test_sigkill_mid_burst_keeps_committed_batches_whole(tmp_path):
    database = tmp_path / "labels.db"
    LabelStore(database)  # schema exists before the writer starts
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(database)], cwd=REPOSITORY,
                              stdout=subprocess.PIPE, text=True)
    committed = []
    try:
        for line in writer.stdout:
            committed.append(int(line))
            if len(committed) == 40:
                break
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL

    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = LabelStore(database).history()
    notes = {row.note for row in rows}
    for number in committed:  # every batch the writer saw committed is there in full
        assert {f"{number}/{item}" for item in range(BATCH)} <= notes
    per_batch = Counter(row.batch for row in rows)
    assert set(per_batch.values()) == {BATCH}  # no batch is stored in part
    assert all(row.who == "writer" and row.previous_label == "Clean" for row in rows)
    assert len(rows) >= len(committed) * BATCH
