"""The review queue: which images to look at first, with the label the models suggest.

``build_review_queue`` takes the active bundle, the base dataset and the label store. It pins the
held-out split (pinned images stay in Test, as in a retrain), applies the label log (so the queue
judges today's labels), embeds the images of the chosen splits (the pool) with the bundle
(``features``), fits the cross-validated linear model (``out_of_sample``) and ranks
(``ranking``). Images of other splits, such as the held-out Test split, join the queue only when
a person flagged them for review: the linear model fitted on the whole pool predicts them, so
their figures are out of sample too, and they never enter the pool's cross-validation or
cleanlab's ranking. Images a person has already decided are left out, unless asked. A
``ReviewQueue`` saves to and loads from JSON, so the app and the CLI share it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sem_core.classes import CLASSES
from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.data.vocabulary import Split
from sem_core.labels import (HUMAN_SOURCES, DecisionSource, LabelStore, apply_heldout,
                             correct_manifest, pin_heldout)
from sem_core.registry import LoadedBundle, utc_now
from sem_core.review.out_of_sample import (CrossValidationConfig, fit_and_predict,
                                           out_of_sample_probabilities)
from sem_core.review.ranking import RankedImage, ReviewReason, rank_for_review, urgency

METHOD = ("cleanlab find_label_issues (prune_by_noise_rate) on {folds}-fold out-of-sample "
          "probabilities of a logistic regression over the bundle's pooled stage-1 and stage-2 "
          "features; plus low confidence (< {low}), stage-1 disagreement and flagged images "
          "(flagged images outside {splits} are predicted by that regression fitted on all of "
          "{splits}, outside the cross-validation and cleanlab)")


@dataclass(frozen=True)
class ReviewConfig:
    """What the queue covers and how it is computed.

    Attributes:
        splits: Splits whose images are ranked (the pool). Default: Train and Validation.
            Images of other splits (the held-out Test split) join the queue only when flagged
            for review; they keep their split, so comparisons remain fair.
        low_confidence: Out-of-sample top probability under which an image is up for review.
            Default: 0.5.
        include_reviewed: Keep images a person has already decided. Default: False.
        cross_validation: Folds, regularisation and seed. Default: ``CrossValidationConfig()``.
        batch_size: Images per model call. Default: 32.
    """

    splits: tuple[str, ...] = (Split.TRAIN.value, Split.VALIDATION.value)
    low_confidence: float = 0.5
    include_reviewed: bool = False
    cross_validation: CrossValidationConfig = field(default_factory=CrossValidationConfig)
    batch_size: int = 32


@dataclass(frozen=True)
class ReviewItem:
    """One image to review.

    Attributes:
        sha256: The image's identity.
        path: Its file (absolute or relative to the dataset).
        split: Its split.
        given_label: Its label now (base label, or the latest decision).
        suggested_label: The most probable class out of sample (may equal ``given_label``).
        score: 1 - out-of-sample probability of the given label; higher is more suspicious.
        reasons: Why it is in the queue.
        suggested_probability: Out-of-sample probability of the suggestion.
        stage1_probability: The bundle's stage-1 probability of Defective.
    """

    sha256: str
    path: str
    split: str
    given_label: str
    suggested_label: str
    score: float
    reasons: tuple[ReviewReason, ...]
    suggested_probability: float = 0.0
    stage1_probability: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        return {**asdict(self), "reasons": [reason.value for reason in self.reasons]}

    @classmethod
    def from_dict(cls, data: dict) -> ReviewItem:
        """Inverse of ``to_dict``."""
        return cls(**{**data, "reasons": tuple(ReviewReason(value) for value in data["reasons"])})


@dataclass(frozen=True)
class ReviewQueue:
    """A ranked review queue and how it was made.

    Attributes:
        items: Most urgent first.
        bundle: Name of the bundle whose embeddings were used.
        dataset_version: Content hash of the corrected dataset the queue judged.
        n_images: Images scored.
        method: How the ranking was computed, in words.
        created: UTC time.
        failures: (path, reason) of images that could not be decoded.
    """

    items: tuple[ReviewItem, ...]
    bundle: str
    dataset_version: str
    n_images: int
    method: str
    created: str = ""
    failures: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def top(self, count: int) -> tuple[ReviewItem, ...]:
        """The first ``count`` items."""
        return self.items[:count]

    def to_frame(self) -> pd.DataFrame:
        """One row per item; ``reasons`` joined with commas."""
        rows = [{**item.to_dict(), "reasons": ", ".join(r.value for r in item.reasons)}
                for item in self.items]
        return pd.DataFrame(rows, columns=list(ReviewItem.__dataclass_fields__))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the queue as JSON (atomically: temporary file, then rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = {**{key: value for key, value in asdict(self).items() if key != "items"},
                "items": [item.to_dict() for item in self.items]}
        temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReviewQueue:
        """Read a queue written by ``save``.

        Raises:
            ValueError: When the file is not a saved queue (the message names it).
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            items = tuple(ReviewItem.from_dict(item) for item in data.pop("items"))
            data["failures"] = tuple(tuple(pair) for pair in data.get("failures", ()))
            return cls(items=items, **data)
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: not a saved review queue ({error}).") from error


def build_review_queue(bundle: LoadedBundle, base: Manifest, store: LabelStore | None = None,
                       config: ReviewConfig = ReviewConfig(), *,
                       progress: Callable[[int, int], None] | None = None) -> ReviewQueue:
    """Rank the images of ``config.splits``, and flagged images of other splits, for review
    (see the module docstring).

    Args:
        bundle: The active bundle (its embeddings and stage-1 threshold are used).
        base: The base dataset, every entry with its sha256.
        store: The label store (decisions applied, flags read, held-out split pinned), or None
            to judge the base labels. Default: None.
        config: Splits, thresholds, folds. Default: ``ReviewConfig()``.
        progress: Called with (images embedded, total). Default: None.

    Returns:
        The ``ReviewQueue``.

    Raises:
        ValueError: When the chosen splits hold too few images to cross-validate, or an image
            to embed has a label that is not one of the classes (the message names it).
    """
    from sem_core.review.features import extract_features

    latest, placed = {}, base
    if store is not None:
        placed = apply_heldout(base, pin_heldout(store, base))
        latest = store.current()
    corrected = correct_manifest(placed, latest)
    pool = [entry for entry in corrected.manifest.entries if entry.split in config.splits]
    requested = [entry for entry in corrected.manifest.entries if entry.split not in config.splits
                 and _source(latest, entry.sha256) == DecisionSource.REVIEW_REQUEST]
    _require_class_labels([*pool, *requested])
    chosen = corrected.manifest.with_entries([*pool, *requested])
    features = extract_features(bundle, chosen, batch_size=config.batch_size, progress=progress)
    given = np.array([CLASSES.index(entry.label) for entry in features.entries], dtype=int)
    in_pool = np.array([entry.split in config.splits for entry in features.entries], dtype=bool)
    pool_rows, outside_rows = np.flatnonzero(in_pool), np.flatnonzero(~in_pool)
    probabilities = np.zeros((len(given), len(CLASSES)))
    probabilities[pool_rows] = out_of_sample_probabilities(
        features.features[pool_rows], given[pool_rows], len(CLASSES), config.cross_validation)
    if len(outside_rows):
        probabilities[outside_rows] = fit_and_predict(
            features.features[pool_rows], given[pool_rows], features.features[outside_rows],
            len(CLASSES), config.cross_validation)
    says_defect = features.stage1_probability >= bundle.info.stage1_threshold
    flagged = np.array([_source(latest, entry.sha256) == DecisionSource.REVIEW_REQUEST
                        for entry in features.entries], dtype=bool)
    signals = (given, probabilities, says_defect != (given != 0), flagged, config.low_confidence)
    ranked = sorted([*_rank_rows(pool_rows, *signals, cleanlab=True),
                     *_rank_rows(outside_rows, *signals, cleanlab=False)], key=urgency)
    items = []
    for image in ranked:
        entry = features.entries[image.index]
        if not config.include_reviewed and _source(latest, entry.sha256) in HUMAN_SOURCES:
            continue
        items.append(ReviewItem(
            entry.sha256, str(chosen.resolve(entry)), entry.split, entry.label,
            CLASSES[image.suggested], round(image.score, 6), image.reasons,
            round(float(probabilities[image.index, image.suggested]), 6),
            round(float(features.stage1_probability[image.index]), 6)))
    method = METHOD.format(folds=config.cross_validation.folds, low=config.low_confidence,
                           splits="/".join(config.splits))
    return ReviewQueue(tuple(items), bundle.info.name, corrected.version, len(features), method,
                       utc_now(), features.failures)


def _require_class_labels(entries: list[ManifestEntry]) -> None:
    unknown = [entry for entry in entries if entry.label not in CLASSES]
    if unknown:
        raise ValueError(f"{unknown[0].path}: label {unknown[0].label!r} is not one of the 8 "
                         f"classes ({len(unknown)} such images); the queue needs class labels.")


def _rank_rows(rows: np.ndarray, given: np.ndarray, probabilities: np.ndarray,
               stage_disagrees: np.ndarray, flagged: np.ndarray, low_confidence: float, *,
               cleanlab: bool) -> list[RankedImage]:
    """Rank ``rows`` alone, with indices mapped back to all rows. Without ``cleanlab`` no row is
    a label issue: images outside the pool must not shape confident learning's thresholds."""
    if not len(rows):
        return []
    ranked = rank_for_review(
        given[rows], probabilities[rows], stage_disagrees=stage_disagrees[rows],
        flagged=flagged[rows], low_confidence=low_confidence,
        label_issues=None if cleanlab else np.zeros(len(rows), dtype=bool))
    return [replace(image, index=int(rows[image.index])) for image in ranked]


def _source(latest: dict, sha256: str) -> DecisionSource | None:
    decision = latest.get(sha256)
    return None if decision is None else decision.source
