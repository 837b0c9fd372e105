"""Old versus new bundle on the same held-out images: score deltas and changed predictions.

``compare_bundles`` evaluates both bundles on the held-out split pinned before relabelling
(``sem_core.labels.heldout``), scored against today's corrected labels. Test images whose label
was corrected are scored apart (``relabelled_*``), so the headline figures judge both bundles on
labels nobody touched. The result lists per-class precision/recall/F1, stage-1 escape and overkill
rates, and every image whose final prediction changed. ``compare_predictions`` does the same from
two per-image prediction tables (pure pandas, no TensorFlow).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sem_core.classes import CLASSES
from sem_core.labels.corrected import GIVEN_LABEL_EXTRA
from sem_core.metrics import ClassScore, evaluate_predictions
from sem_core.registry import utc_now

_DELTA_METRICS = ("precision", "recall", "f1")


@dataclass(frozen=True)
class SideScores:
    """One bundle's scores on a set of images.

    Attributes:
        n_images: Images scored.
        accuracy: End-to-end accuracy.
        macro_f1: End-to-end macro-F1.
        escape_rate: Defects stage 1 called Clean, over all defects.
        overkill_rate: Clean images stage 1 called Defective, over all clean images.
        per_class: Class -> precision, recall, F1, support.
    """

    n_images: int
    accuracy: float
    macro_f1: float
    escape_rate: float
    overkill_rate: float
    per_class: Mapping[str, ClassScore]

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        return {**{key: value for key, value in asdict(self).items() if key != "per_class"},
                "per_class": {name: score.to_dict() for name, score in self.per_class.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SideScores:
        """Inverse of ``to_dict``."""
        per_class = {name: ClassScore.from_dict(score) for name, score in data["per_class"].items()}
        return cls(int(data["n_images"]), float(data["accuracy"]), float(data["macro_f1"]),
                   float(data["escape_rate"]), float(data["overkill_rate"]), per_class)


@dataclass(frozen=True)
class ChangedPrediction:
    """A held-out image whose final prediction differs between the bundles (or was relabelled).

    Attributes:
        sha256: The image's identity.
        path: Its file.
        label: Its corrected label (the truth used for scoring).
        given_label: Its label before correction (equal to ``label`` if never relabelled).
        old_label: The old bundle's final prediction.
        new_label: The new bundle's final prediction.
        old_confidence: The old bundle's confidence in its prediction.
        new_confidence: The new bundle's confidence in its prediction.
    """

    sha256: str
    path: str
    label: str
    given_label: str
    old_label: str
    new_label: str
    old_confidence: float
    new_confidence: float

    @property
    def verdict(self) -> str:
        """"fixed", "broken" or "changed" (wrong before and after, differently)."""
        if self.new_label == self.label:
            return "fixed" if self.old_label != self.label else "same"
        return "broken" if self.old_label == self.label else "changed"


@dataclass(frozen=True)
class BundleComparison:
    """Old versus new bundle on the held-out images.

    Attributes:
        old_bundle: Folder of the old (active) bundle.
        new_bundle: Folder of the new bundle.
        old: Old bundle's scores on held-out images whose label was never corrected.
        new: New bundle's scores on the same images.
        changed: Images whose final prediction changed, fixed ones first.
        relabelled: Held-out images whose label was corrected, with both predictions.
        relabelled_old: Old bundle's scores on those (None when there are none).
        relabelled_new: New bundle's scores on those (None when there are none).
        heldout_digest: Identity of the held-out split (see ``sem_core.labels.heldout``).
        dataset_version: Content hash of the corrected dataset.
        created: UTC time.
    """

    old_bundle: str
    new_bundle: str
    old: SideScores
    new: SideScores
    changed: tuple[ChangedPrediction, ...]
    relabelled: tuple[ChangedPrediction, ...] = ()
    relabelled_old: SideScores | None = None
    relabelled_new: SideScores | None = None
    heldout_digest: str = ""
    dataset_version: str = ""
    created: str = ""

    @property
    def macro_f1_delta(self) -> float:
        """New minus old macro-F1 on the untouched held-out images."""
        return self.new.macro_f1 - self.old.macro_f1

    def class_deltas(self) -> pd.DataFrame:
        """One row per class: support and old, new and delta of precision, recall and F1."""
        rows = []
        for name in self.old.per_class:
            old, new = self.old.per_class[name], self.new.per_class.get(name)
            row: dict[str, object] = {"class": name, "support": old.support}
            for metric in _DELTA_METRICS:
                before, after = getattr(old, metric), getattr(new, metric) if new else 0.0
                row.update({f"{metric}_old": before, f"{metric}_new": after,
                            f"{metric}_delta": after - before})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        sides = {key: None if value is None else value.to_dict() for key, value in (
            ("old", self.old), ("new", self.new), ("relabelled_old", self.relabelled_old),
            ("relabelled_new", self.relabelled_new))}
        return {"old_bundle": self.old_bundle, "new_bundle": self.new_bundle, **sides,
                "changed": [asdict(item) for item in self.changed],
                "relabelled": [asdict(item) for item in self.relabelled],
                "heldout_digest": self.heldout_digest, "dataset_version": self.dataset_version,
                "created": self.created, "macro_f1_delta": self.macro_f1_delta}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BundleComparison:
        """Inverse of ``to_dict``."""
        def side(key: str) -> SideScores | None:
            return None if data.get(key) is None else SideScores.from_dict(data[key])

        return cls(str(data["old_bundle"]), str(data["new_bundle"]), side("old"), side("new"),
                   tuple(ChangedPrediction(**item) for item in data["changed"]),
                   tuple(ChangedPrediction(**item) for item in data.get("relabelled", ())),
                   side("relabelled_old"), side("relabelled_new"),
                   str(data.get("heldout_digest", "")), str(data.get("dataset_version", "")),
                   str(data.get("created", "")))

    def save(self, path: str | os.PathLike) -> Path:
        """Write as JSON (temporary file, then rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        temporary.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n",
                             encoding="utf-8")
        os.replace(temporary, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> BundleComparison:
        """Read a comparison written by ``save``.

        Raises:
            ValueError: When the file is not a saved comparison (the message names it).
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: not a saved bundle comparison ({error}).") from error


def side_scores(predictions: pd.DataFrame, threshold: float,
                classes: tuple[str, ...] = CLASSES) -> SideScores:
    """Score one bundle's per-image predictions (rows with an ``error`` are left out)."""
    scored = predictions[predictions["error"].isna()] if len(predictions) else predictions
    if len(scored) == 0:
        report = evaluate_predictions([], np.zeros(0), threshold, [], classes=classes)
    else:
        stage2 = [label if decision == "Defective" else None
                  for label, decision in zip(scored["final_label"], scored["stage1_decision"])]
        report = evaluate_predictions(
            list(scored["label"]), scored["stage1_probability"].to_numpy(dtype=float), threshold,
            list(scored["final_label"]), stage2_labels=stage2, classes=classes)
    rates = report.stage1.rates
    return SideScores(report.n_images, report.accuracy, report.macro_f1, rates.escape_rate,
                      rates.overkill_rate, dict(report.per_class))


def compare_predictions(old: pd.DataFrame, new: pd.DataFrame, *, old_threshold: float,
                        new_threshold: float, given_labels: Mapping[str, str] | None = None,
                        old_bundle: str = "", new_bundle: str = "", heldout_digest: str = "",
                        dataset_version: str = "") -> BundleComparison:
    """Compare two per-image prediction tables of the same images.

    Args:
        old: The old bundle's ``EvaluationRun.predictions`` (``path``, ``sha256``, ``label``
            = corrected truth, ``final_label``, ``confidence``, ``stage1_probability``,
            ``stage1_decision``, ``error``).
        new: The new bundle's table over the same paths.
        old_threshold: The old bundle's stage-1 threshold.
        new_threshold: The new bundle's stage-1 threshold.
        given_labels: sha256 -> label before correction, for relabelled images. Default: None.
        old_bundle: Name or folder of the old bundle, recorded. Default: "".
        new_bundle: Name or folder of the new bundle, recorded. Default: "".
        heldout_digest: Recorded identity of the held-out split. Default: "".
        dataset_version: Recorded corrected-dataset hash. Default: "".

    Returns:
        The ``BundleComparison``.

    Raises:
        ValueError: When the tables do not cover the same images.
    """
    if sorted(old["path"]) != sorted(new["path"]):
        raise ValueError("The two prediction tables cover different images; evaluate both "
                         "bundles on the same held-out split.")
    given = dict(given_labels or {})
    joined = old.merge(new[["path", "final_label", "confidence", "stage1_probability",
                            "stage1_decision", "error"]], on="path", suffixes=("_old", "_new"))
    joined["given_label"] = [given.get(sha, label) for sha, label in
                             zip(joined["sha256"], joined["label"])]
    touched = joined["given_label"] != joined["label"]

    def side(rows: pd.DataFrame, suffix: str, threshold: float) -> SideScores:
        renamed = rows.rename(columns={f"{name}_{suffix}": name for name in (
            "final_label", "confidence", "stage1_probability", "stage1_decision", "error")})
        return side_scores(renamed, threshold)

    records = [ChangedPrediction(
        str(row.sha256), str(row.path), str(row.label), str(row.given_label),
        str(row.final_label_old), str(row.final_label_new), _number(row.confidence_old),
        _number(row.confidence_new)) for row in joined.itertuples(index=False)]
    changed = [item for item in records if item.old_label != item.new_label]
    order = {"fixed": 0, "changed": 1, "broken": 2, "same": 3}
    changed.sort(key=lambda item: (order[item.verdict], item.path))
    relabelled = [item for item, hit in zip(records, touched) if hit]
    untouched = joined[~touched]
    return BundleComparison(
        old_bundle, new_bundle, side(untouched, "old", old_threshold),
        side(untouched, "new", new_threshold), tuple(changed), tuple(relabelled),
        side(joined[touched], "old", old_threshold) if relabelled else None,
        side(joined[touched], "new", new_threshold) if relabelled else None,
        heldout_digest, dataset_version, utc_now())


def compare_bundles(old_bundle: str | os.PathLike, new_bundle: str | os.PathLike, manifest, *,
                    heldout=None, dataset_version: str = "",
                    progress: Callable[[int], None] | None = None) -> BundleComparison:
    """Evaluate both bundles on the held-out images and compare them.

    Args:
        old_bundle: Folder of the old (active) bundle.
        new_bundle: Folder of the new bundle.
        manifest: The corrected dataset's manifest (relabelled entries carry ``label_given``).
        heldout: A ``HeldOutSplit`` choosing the images; None takes the Test split.
            Default: None.
        dataset_version: Recorded corrected-dataset hash. Default: "".
        progress: Called with images finished after each batch, for both bundles. Default: None.

    Returns:
        The ``BundleComparison``.

    Raises:
        ValueError: When no held-out image is in ``manifest``.
    """
    from sem_core.evaluation import evaluate_bundle
    from sem_core.registry import load_bundle

    if heldout is None:
        chosen = manifest.by_split("Test")
    else:
        chosen = manifest.with_entries(e for e in manifest.entries if e.sha256 in heldout)
    if len(chosen) == 0:
        raise ValueError(f"{manifest.root or 'manifest'}: no held-out images to compare on.")
    given = {entry.sha256: entry.extras[GIVEN_LABEL_EXTRA] for entry in chosen.entries
             if GIVEN_LABEL_EXTRA in entry.extras}
    runs = []
    for folder in (old_bundle, new_bundle):
        bundle = load_bundle(folder)
        runs.append((evaluate_bundle(bundle, chosen, split="all", progress=progress),
                     float(bundle.info.stage1_threshold)))
    (old_run, old_threshold), (new_run, new_threshold) = runs
    return compare_predictions(
        old_run.predictions, new_run.predictions, old_threshold=old_threshold,
        new_threshold=new_threshold, given_labels=given, old_bundle=str(old_bundle),
        new_bundle=str(new_bundle), heldout_digest="" if heldout is None else heldout.digest,
        dataset_version=dataset_version)


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if np.isnan(number) else number
