"""The few-shot curve of a new tool (issue 19), as recorded by ``benchmarks/bench_fewshot.py``:
target macro-F1 against labelled target images per class, one curve per starting bundle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

CURVE_COLUMNS = ("start", "labels_per_class", "cascade_macro_f1")


def read_fewshot_curves(path: str | os.PathLike) -> pd.DataFrame:
    """The record's curves as rows of ``CURVE_COLUMNS`` (plus ``retrain_seconds`` where given),
    sorted by start and number of labels.

    Raises:
        FileNotFoundError: When there is no record at ``path``.
        ValueError: When the file is not a few-shot record; the message names the file.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a JSON few-shot record ({error}).") from None
    curves = record.get("curves") if isinstance(record, dict) else None
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"{path}: has no 'curves' (a bench_fewshot.py record has one per start).")
    rows = []
    for start, points in curves.items():
        for point in points if isinstance(points, list) else [None]:
            if not isinstance(point, dict) or not set(CURVE_COLUMNS[1:]) <= set(point):
                raise ValueError(f"{path}: a point of curve '{start}' lacks labels_per_class or "
                                 "cascade_macro_f1.")
            rows.append({"start": str(start), "labels_per_class": int(point["labels_per_class"]),
                         "cascade_macro_f1": float(point["cascade_macro_f1"]),
                         "retrain_seconds": float(point.get("retrain_seconds", float("nan")))})
    return pd.DataFrame(rows, columns=[*CURVE_COLUMNS, "retrain_seconds"]).sort_values(
        ["start", "labels_per_class"], ignore_index=True)
