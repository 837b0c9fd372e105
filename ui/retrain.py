"""The Retrain page's plumbing: start a job on the corrected dataset, watch it, read its
comparison, promote the new bundle or roll back. Page keys start with ``retrain_``.

Jobs run in their own process (``sem_core.jobs``), so this module only reads their folder: a
reload or a second browser sees the same job. New bundles go to the user registry; promotion
and rollback are logged with their evidence in that registry's ``promotions.jsonl`` and also
switch the app's active bundle.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import pandas as pd

from sem_core.compare import BundleComparison
from sem_core.jobs import (JobHandle, JobProgress, JobState, PromotionAction, PromotionRecord,
                           RetrainRequest, TrainingMode, cancel_job, default_jobs_root, job_state,
                           list_jobs, promote, read_events, read_log, rollback, running_job,
                           start_retrain, summarise_events)
from sem_core.jobs.promotion import append_record
from sem_core.jobs.state import read_request
from sem_core.labels import correct_manifest
from sem_core.registry import BundleRegistry, utc_now
from ui import bundles, relabel, settings, state

MODES = {"Fine-tune the active bundle": TrainingMode.FINETUNE,
         "Train from scratch": TrainingMode.SCRATCH}


def jobs_root() -> Path:
    """Where jobs and the one-at-a-time lock live (``$SEM_JOBS_DIR`` or ``runs/jobs``)."""
    return default_jobs_root().resolve()


def corrections(dataset: str):
    """The dataset corrected by its label log (``sem_core.labels.CorrectedDataset``)."""
    return correct_manifest(relabel.base_manifest(dataset), relabel.store(dataset))


def default_epochs(entry: bundles.CatalogEntry) -> tuple[int, int]:
    """(stage-2 epochs, stage-1 epochs) a fine-tune of ``entry`` gets when none are named.

    The same as the command line's (``sem_core.jobs.worker.retrain_config``): half of those the
    bundle was trained with, or its own when it was itself fine-tuned from a bundle.
    """
    from sem_core.jobs.worker import retrain_config

    config = retrain_config(RetrainRequest(data="", base_bundle=str(entry.path), out=""))
    return int(config.epochs), int(config.stage1_epochs)


def start(dataset: str, entry: bundles.CatalogEntry, mode: TrainingMode, epochs: int,
          stage1_epochs: int) -> JobHandle:
    """Start a retrain of ``entry`` on the corrected ``dataset``.

    Raises:
        sem_core.jobs.RetrainBusyError: When a job already runs.
    """
    out = BundleRegistry(settings.user_models_dir()).new_bundle_dir("retrain")
    request = RetrainRequest(data=str(dataset), base_bundle=str(entry.path), out=str(out),
                             labels=str(relabel.label_db_path(dataset)), mode=mode,
                             epochs=epochs, stage1_epochs=stage1_epochs, who=relabel.who())
    return start_retrain(request, jobs_root())


FIRST_MODEL_SIZES = (64, 96, 128, 224)


def backbone_choices() -> tuple[str, ...]:
    """The registered backbones, those with offline ImageNet weights first (no TensorFlow loaded)."""
    from sem_core.models import backbone_names, offline_imagenet_names

    offline = offline_imagenet_names()
    return offline + tuple(name for name in backbone_names() if name not in offline)


# What a first model may start from, as the page words it -> RetrainRequest.weights.
FIRST_MODEL_STARTS: dict[str, str] = {
    "ImageNet weights (transfer learning; offline for EfficientNet-Lite, other backbones need "
    "the internet once or the Keras cache)": "imagenet",
    "Random weights (offline)": "none",
}

# How a first model learns, as the page words it -> RetrainRequest.recipe.
FIRST_MODEL_RECIPES: dict[str, str] = {
    "Fine-tune (standard)": "standard",
    "Probe: a first look in about a minute (frozen ImageNet features, linear heads)": "probe",
}

# Where a first model's stage 1 screens, as the page words it -> RetrainRequest.stage1_backbone
# ("" stands for the chosen stage-2 backbone).
FIRST_MODEL_STAGE1: dict[str, str] = {
    "Same backbone as stage 2 (starts from the same weights)": "",
    "Small CNN (fast, trained from scratch)": "cnn",
}


def start_first(dataset: str, image_size: int, backbone: str, epochs: int,
                stage1_epochs: int, weights: str = "none", recipe: str = "standard",
                stage1_backbone: str = "cnn") -> JobHandle:
    """Start training a first bundle on the corrected ``dataset`` (no bundle exists yet, so
    there is nothing to fine-tune or compare with), from random or ImageNet weights, with the
    standard or the probe recipe, stage 1 on the small CNN or on a backbone ("" means
    ``backbone``). The newest bundle is active while none was chosen, so it is used as soon as
    it is written.

    Raises:
        ValueError: When the probe recipe is asked for without ImageNet weights.
        sem_core.jobs.RetrainBusyError: When a job already runs.
        sem_core.models.weights.WeightsUnavailableError: When ImageNet weights were asked for
            and are neither in the Keras cache nor downloadable (checked before the job starts).
    """
    out = BundleRegistry(settings.user_models_dir()).new_bundle_dir("first")
    request = RetrainRequest(data=str(dataset), base_bundle="", out=str(out),
                             labels=str(relabel.label_db_path(dataset)), mode=TrainingMode.SCRATCH,
                             epochs=epochs, stage1_epochs=stage1_epochs, who=relabel.who(),
                             image_size=image_size, backbone=backbone, weights=weights,
                             recipe=recipe, stage1_backbone=stage1_backbone or backbone)
    return start_retrain(request, jobs_root())


def latest_job(dataset: str) -> JobState | None:
    """The running job (whatever its dataset: one runs at a time), else the most recent job on
    ``dataset``, else None."""
    running = running_job(jobs_root())
    if running is not None:
        return running
    wanted = str(Path(dataset).resolve())
    for job in list_jobs(jobs_root()):
        try:
            if read_request(jobs_root() / job.job_id).data == wanted:
                return job
        except ValueError:
            continue
    return None


def job_by_id(job_id: str) -> JobState | None:
    """The state of job ``job_id`` now (None when its folder is gone)."""
    return job_state(jobs_root() / job_id)


def progress(job: JobState) -> JobProgress:
    """Where the job's training is, from its progress lines."""
    return summarise_events(read_events(jobs_root() / job.job_id)[0])


def seconds_since_update(job: JobState) -> float:
    """Seconds since the job last wrote a progress line (its heartbeat keeps this small)."""
    try:
        return max(time.time() - (jobs_root() / job.job_id / "events.jsonl").stat().st_mtime, 0.0)
    except OSError:
        return 0.0


def cancel(job: JobState) -> None:
    """Ask the job to stop (waits up to 30 s, then kills it)."""
    state.notify(f"Job {job.job_id}: {cancel_job(jobs_root() / job.job_id).message}")


def comparison(job: JobState) -> BundleComparison | None:
    """The job's comparison of old and new bundles, once written."""
    if not job.comparison:
        return None
    try:
        return BundleComparison.load(job.comparison)
    except ValueError:
        return None


def headline_frame(result: BundleComparison) -> pd.DataFrame:
    """Old, new and change of the headline figures on the untouched held-out images."""
    rows = []
    for name, label in (("macro_f1", "macro-F1"), ("accuracy", "accuracy"),
                        ("escape_rate", "escape rate (stage 1)"),
                        ("overkill_rate", "overkill rate (stage 1)")):
        old, new = getattr(result.old, name), getattr(result.new, name)
        rows.append({"figure": label, "old": round(old, 4), "new": round(new, 4),
                     "change": round(new - old, 4)})
    return pd.DataFrame(rows)


# A class recall drop larger than this, on a class with held-out images, is worth a warning.
RECALL_DROP_WARNING = 0.05


def promotion_concerns(result: BundleComparison) -> list[str]:
    """What got worse from the old bundle to the new one on the untouched held-out images.

    Returns:
        One sentence per concern (lower macro-F1, more escapes, more overkill, a class whose
        recall fell by more than ``RECALL_DROP_WARNING``); empty when nothing got worse.
    """
    old, new = result.old, result.new
    concerns = []
    if new.macro_f1 < old.macro_f1:
        concerns.append(f"macro-F1 falls from {old.macro_f1:.3f} to {new.macro_f1:.3f}")
    if new.escape_rate > old.escape_rate:
        concerns.append(f"stage 1 lets more defects through: escape rate {old.escape_rate:.3f} -> "
                        f"{new.escape_rate:.3f}")
    if new.overkill_rate > old.overkill_rate:
        concerns.append(f"stage 1 flags more clean images: overkill rate {old.overkill_rate:.3f} -> "
                        f"{new.overkill_rate:.3f}")
    for name, before in old.per_class.items():
        after = new.per_class.get(name)
        if after is not None and before.support > 0 and before.recall - after.recall > RECALL_DROP_WARNING:
            concerns.append(f"{name} recall falls from {before.recall:.2f} to {after.recall:.2f} "
                            f"({before.support} images)")
    return concerns


def _thumbnail(path: str, side: int = 64) -> str:
    from PIL import Image

    from sem_core.data.image_io import load_image
    from sem_core.errors import ImageLoadError

    try:
        pixels = load_image(path).pixels
    except ImageLoadError:
        return ""
    picture = Image.fromarray((pixels * 255).round().astype("uint8"))
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def changes_frame(items, limit: int = 60) -> pd.DataFrame:
    """Images with before/after predictions and a thumbnail, for ``st.dataframe``."""
    return pd.DataFrame([{"image": _thumbnail(item.path), "file": Path(item.path).name,
                          "label": item.label, "given label": item.given_label,
                          "old prediction": item.old_label, "new prediction": item.new_label,
                          "verdict": item.verdict} for item in list(items)[:limit]])


def promote_job(job: JobState, result: BundleComparison, note: str) -> PromotionRecord:
    """Make the job's bundle active (user registry and app), logging the comparison."""
    active = state.active_entry()
    record = promote(BundleRegistry(settings.user_models_dir()), Path(job.bundle).name,
                     comparison=result, comparison_path=job.comparison, who=relabel.who(),
                     note=note, previous=None if active is None else str(active.path))
    _activate(Path(job.bundle))
    return record


def is_active(folder: str | Path | None) -> bool:
    """True when ``folder`` is the app's active bundle."""
    active = state.active_entry()
    return folder is not None and active is not None and active.path == Path(folder).resolve()


def rollback_choices() -> list[bundles.CatalogEntry]:
    """Bundles that were active before (per the promotion log), other than the active one."""
    entries = state.catalog()
    seen = []
    for record in reversed(read_log(settings.user_models_dir())):
        for folder in (record.previous, record.bundle):
            entry = bundles.find(entries, folder)
            if entry is not None and entry not in seen and not is_active(entry.path):
                seen.append(entry)
    return seen


def rollback_to(entry: bundles.CatalogEntry, note: str) -> None:
    """Make an earlier bundle active again and log it."""
    registry = BundleRegistry(settings.user_models_dir())
    active = state.active_entry()
    previous = None if active is None else str(active.path)
    if entry.origin is bundles.BundleOrigin.USER:
        rollback(registry, entry.name, who=relabel.who(), note=note, previous=previous)
    else:  # the shipped bundle lives outside the user registry: log it there all the same
        append_record(registry.root, PromotionRecord(PromotionAction.ROLLBACK, str(entry.path),
                                                     previous, relabel.who(), utc_now(), note))
    _activate(entry.path)


def log_frame() -> pd.DataFrame:
    """The promotion log, newest first."""
    return pd.DataFrame([{"when (UTC)": record.at, "action": record.action.value,
                          "bundle": Path(record.bundle).name,
                          "was": Path(record.previous).name if record.previous else "",
                          "who": record.who, "note": record.note,
                          "macro-F1 old -> new": (f"{record.evidence['old_macro_f1']:.3f} -> "
                                                  f"{record.evidence['new_macro_f1']:.3f}")
                          if "new_macro_f1" in record.evidence else ""}
                         for record in reversed(read_log(settings.user_models_dir()))])


def _activate(folder: Path) -> None:
    entry = bundles.find(state.catalog(), folder)
    if entry is not None:
        state.set_active(entry)
