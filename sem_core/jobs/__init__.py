"""Background retrain jobs: one at a time, in their own process, watched through a folder.

``start_retrain`` (``launcher``) takes the lock (``lock``), writes the job folder (``state``) and
starts ``python -m sem_core retrain --run-job``, whose body is ``worker.run_job``; progress lines
go to ``events.jsonl`` with a heartbeat (``events``). ``promote`` and ``rollback``
(``promotion``) switch the active bundle with an append-only log of evidence. ``start_review``
(``review_job``) builds a review queue the same way, one build per queue folder. Importing this
package does not load TensorFlow.
"""

from sem_core.jobs.launcher import (JobHandle, cancel_job, job_state, list_jobs, running_job,
                                    start_retrain)
from sem_core.jobs.lock import JobLock, LockOwner, RetrainBusyError
from sem_core.jobs.progress import JobProgress, summarise_events
from sem_core.jobs.promotion import (PromotionAction, PromotionError, PromotionRecord,
                                     earlier_active, promote, read_log, rollback)
from sem_core.jobs.review_job import (ReviewBusyError, ReviewCancelled, ReviewRequest,
                                     cancel_review, latest_review, review_progress, review_state,
                                     start_review)
from sem_core.jobs.state import (JobState, JobStatus, RetrainRequest, TrainingMode,
                                 default_jobs_root, read_events)

__all__ = [
    "JobHandle", "JobLock", "JobProgress", "JobState", "JobStatus", "LockOwner", "PromotionAction",
    "PromotionError", "PromotionRecord", "RetrainBusyError", "ReviewBusyError", "ReviewCancelled",
    "ReviewRequest", "cancel_review", "latest_review", "review_progress", "review_state",
    "start_review", "RetrainRequest", "TrainingMode",
    "cancel_job", "default_jobs_root", "earlier_active", "job_state", "list_jobs", "promote",
    "read_events", "read_log", "rollback", "running_job", "start_retrain", "summarise_events",
]
