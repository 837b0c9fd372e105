"""The Relabel page's plumbing: where a dataset's label log and review queue live, and the calls
that read and write them. No rendering here beyond what pages ask for by name.

Each labelled dataset gets one label database and one saved review queue in the app folder
(``<app dir>/labels/<dataset name>-<hash of its path>.db`` and ``.queue.json``), so decisions
survive reloads and restarts and the retrain page finds the same log. The queue is built by a
background job (``sem_core.jobs.review_job``) whose folders and lock live in
``<app dir>/labels/review-jobs/<dataset stem>/``, so a reload or a second browser sees the same
build. Page keys start with ``relabel_``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import streamlit as st

from sem_core.jobs import JobHandle, JobProgress, JobState, default_jobs_root, running_job
from sem_core.jobs.review_job import (ReviewRequest, cancel_review, latest_review,
                                      review_progress, review_state, start_review)
from sem_core.labels import (HUMAN_SOURCES, LABELS, DecisionSource, LabelChange, LabelDecision,
                             LabelStore, default_user, ensure_sha256)
# build_review_queue stays importable from here for in-process ranking (the page tests use it).
from sem_core.review import ReviewItem, ReviewQueue, build_review_queue  # noqa: F401
from ui import loaders, review_flags, settings, state

REVIEWER = "relabel_reviewer"  # kept across pages (a widget's own key is dropped off its page)
SKIPPED = "relabel_skipped"
NO_CHANGE = ""


def _stem(dataset: str | Path) -> str:
    path = Path(dataset).resolve()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.name)[:40] or "dataset"
    return f"{slug}-{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"


def labels_dir() -> Path:
    """Folder of the label databases and queues (inside the app folder)."""
    return settings.state_file().parent / "labels"


def label_db_path(dataset: str | Path) -> Path:
    """The label database of ``dataset``."""
    return labels_dir() / f"{_stem(dataset)}.db"


def queue_path(dataset: str | Path) -> Path:
    """The saved review queue of ``dataset``."""
    return labels_dir() / f"{_stem(dataset)}.queue.json"


def store(dataset: str | Path) -> LabelStore:
    """The label store of ``dataset`` (created on first use)."""
    return LabelStore(label_db_path(dataset))


def base_manifest(dataset: str | Path):
    """The base dataset's manifest (cached loader), every entry with its sha256."""
    return ensure_sha256(loaders.loaded_dataset(dataset).manifest)


def init() -> None:
    """Create this page's session keys."""
    st.session_state.setdefault(REVIEWER, default_user())
    st.session_state.setdefault(SKIPPED, set())


def who() -> str:
    """The reviewer's name as typed (the OS user until changed)."""
    return str(st.session_state.get(REVIEWER) or "").strip() or default_user()


def name_input(key: str) -> None:
    """A text input for the reviewer's name, remembered for every page of the session."""
    def remember() -> None:
        st.session_state[REVIEWER] = st.session_state[key]

    st.text_input("Your name (recorded with every decision)", value=who(), key=key,
                  on_change=remember)


def queue_jobs_dir(dataset: str | Path) -> Path:
    """Folder of the dataset's queue builds and their one-at-a-time lock."""
    return labels_dir() / "review-jobs" / _stem(dataset)


def build_queue(dataset: str, bundle_folder: Path) -> JobHandle:
    """Start ranking the dataset's images for review with the bundle, in the background.

    The saved queue is replaced only when the new one is complete.

    Raises:
        sem_core.jobs.review_job.ReviewBusyError: When a build of this dataset's queue runs.
    """
    request = ReviewRequest(bundle=str(Path(bundle_folder).resolve()),
                            data=str(Path(dataset).resolve()), out=str(queue_path(dataset)),
                            labels=str(label_db_path(dataset)), who=who())
    label_db_path(dataset).parent.mkdir(parents=True, exist_ok=True)
    handle = start_review(request, queue_jobs_dir(dataset))
    st.session_state[SKIPPED] = set()
    return handle


def queue_job(dataset: str) -> JobState | None:
    """The dataset's latest queue build (running or finished), or None."""
    return latest_review(queue_jobs_dir(dataset))


def queue_job_by_id(dataset: str, job_id: str) -> JobState | None:
    """The state of build ``job_id`` now (None when its folder is gone)."""
    return review_state(queue_jobs_dir(dataset) / job_id)


def queue_progress(dataset: str, job: JobState) -> JobProgress:
    """Where the build is (``batch`` of ``batches`` images embedded)."""
    return review_progress(queue_jobs_dir(dataset) / job.job_id)


def cancel_queue_build(dataset: str, job: JobState) -> None:
    """Ask the build to stop (waits up to 30 s, then kills it); the saved queue stays."""
    result = cancel_review(queue_jobs_dir(dataset) / job.job_id)
    state.notify(f"Queue build {job.job_id}: {result.message if result else 'gone'}")


def retrain_running() -> bool:
    """True when a retrain job runs (it shares the CPU with a queue build)."""
    return running_job(default_jobs_root().resolve()) is not None


def saved_queue(dataset: str) -> ReviewQueue | None:
    """The dataset's saved queue, or None when none was built (or it is unreadable)."""
    path = queue_path(dataset)
    if not path.is_file():
        return None
    try:
        return ReviewQueue.load(path)
    except ValueError:
        return None


def decided(item: ReviewItem, latest: dict[str, LabelDecision]) -> bool:
    """True when a person has decided the item's label (an undo makes it open again)."""
    decision = latest.get(item.sha256)
    return decision is not None and decision.source in HUMAN_SOURCES


def open_items(queue: ReviewQueue, latest: dict[str, LabelDecision]) -> list[ReviewItem]:
    """Items still to review, skipped ones (this session) left out: images flagged for review
    since the queue was built first, then queue order."""
    skipped = st.session_state.get(SKIPPED, set())
    remaining = [item for item in queue.items
                 if not decided(item, latest) and item.sha256 not in skipped]
    return sorted(remaining, key=lambda item: not _requested(item, latest))  # stable


def _requested(item: ReviewItem, latest: dict[str, LabelDecision]) -> bool:
    decision = latest.get(item.sha256)
    return decision is not None and decision.source is DecisionSource.REVIEW_REQUEST


def held_out_note(item: ReviewItem) -> str:
    """What a reviewer should know about a flagged held-out Test item ("" for other items)."""
    if item.split != review_flags.HELD_OUT_SPLIT:
        return ""
    return ("Held-out Test image, here because it was flagged for review: whatever you decide, "
            "it stays in the held-out split (a retrain never learns from it), and a relabel is "
            "reported separately in the bundle comparison (one marked unknown / new class is "
            "left out of the comparison).")


def skip(item: ReviewItem) -> None:
    """Leave ``item`` for later (this session)."""
    st.session_state[SKIPPED] = {*st.session_state.get(SKIPPED, set()), item.sha256}


def unskip_all() -> None:
    """Bring skipped items back."""
    st.session_state[SKIPPED] = set()


def decide(dataset: str, item: ReviewItem, label: str, source: DecisionSource,
           note: str = "") -> LabelDecision:
    """Record one decision about ``item`` by the current reviewer."""
    return store(dataset).set_label(item.sha256, item.path, label, base_label=item.given_label,
                                    who=who(), note=note, source=source)


def flag_for_review(dataset: str, sha256: str, path: str, label: str,
                    note: str = "") -> LabelDecision:
    """Ask for a review of one dataset image: its label stays, and the Relabel queue shows it
    first once rebuilt. An image already waiting for review gets no second request (its
    waiting one is returned)."""
    labels = store(dataset)
    current = labels.current().get(sha256)
    if current is not None and current.source is DecisionSource.REVIEW_REQUEST:
        return current
    return labels.set_label(sha256, path, current.new_label if current else label,
                            base_label=label, who=who(), note=note,
                            source=DecisionSource.REVIEW_REQUEST)


def flag_in_dataset(dataset: str, requested: Sequence[tuple[str, str]],
                    note: str = "") -> review_flags.FlagResult:
    """Flag (sha256, name) images of ``dataset`` for review by the current reviewer, in one
    transaction; see ``ui.review_flags.flag_images`` for what is skipped and why."""
    return review_flags.flag_images(store(dataset), base_manifest(dataset), requested,
                                    dataset=dataset, who=who(), note=note)


def undo_last(dataset: str) -> LabelDecision | None:
    """Undo the reviewer's latest decision; None when there is nothing to undo."""
    labels = store(dataset)
    latest = labels.last_undoable(who=who())
    return None if latest is None else labels.undo(latest.id, who=who())


def batch_frame(items: Sequence[ReviewItem]) -> pd.DataFrame:
    """Editable rows for ``st.data_editor``: ``new_label`` empty means "no change"."""
    return pd.DataFrame({
        "file": [Path(item.path).name for item in items],
        "given": [item.given_label for item in items],
        "suggested": [item.suggested_label for item in items],
        "score": [round(item.score, 3) for item in items],
        "new_label": [NO_CHANGE] * len(items),
        "note": [""] * len(items),
    })


def label_options() -> list[str]:
    """Choices of the batch editor's label column ("" = no change)."""
    return [NO_CHANGE, *LABELS]


def apply_batch(dataset: str, items: Sequence[ReviewItem], edited: pd.DataFrame) -> int:
    """Record every row of ``edited`` with a new label, in one transaction; returns the count."""
    changes = []
    for item, (_, row) in zip(items, edited.iterrows()):
        label = str(row.get("new_label") or NO_CHANGE)
        if label == NO_CHANGE:
            continue
        source = DecisionSource.FLAG if label == LABELS[-1] else (
            DecisionSource.ACCEPTED_SUGGESTION if label == item.suggested_label
            else DecisionSource.MANUAL)
        changes.append(LabelChange(item.sha256, item.path, label, item.given_label,
                                   str(row.get("note") or ""), source))
    if changes:
        store(dataset).record(changes, who=who())
    return len(changes)


def recent_decisions(dataset: str, limit: int = 15) -> pd.DataFrame:
    """The latest decisions, newest first, for the audit table."""
    rows = store(dataset).history()[-limit:]
    return pd.DataFrame([{"id": row.id, "when (UTC)": row.at[:19], "who": row.who,
                          "source": row.source.value, "from": row.previous_label,
                          "to": row.new_label, "file": Path(row.path).name, "note": row.note}
                         for row in reversed(rows)])


def image_pixels(item: ReviewItem):
    """The item's image as grayscale float (H, W) in [0, 1]."""
    from sem_core.data.image_io import load_image

    return load_image(item.path).pixels
