"""Labels: the append-only label log, the pinned held-out split and the corrected dataset.

``LabelStore`` keeps every label decision in SQLite (``store``); ``pin_heldout`` fixes the test
images before relabelling starts (``heldout``); ``correct_manifest`` applies the log to a base
manifest and ``export_corrected`` writes the result (``corrected``). No TensorFlow here.
"""

from sem_core.labels.corrected import (CorrectedDataset, ExportFormat, RelabelledImage,
                                       correct_manifest, ensure_sha256, export_corrected,
                                       file_sha256)
from sem_core.labels.heldout import HeldOutSplit, apply_heldout, pin_heldout, pinned_heldout
from sem_core.labels.records import (HUMAN_SOURCES, LABELS, UNKNOWN_CLASS, DecisionSource,
                                     LabelChange, LabelDecision, LabelStoreError, default_user)
from sem_core.labels.store import LabelStore

__all__ = [
    "HUMAN_SOURCES", "LABELS", "UNKNOWN_CLASS", "CorrectedDataset", "DecisionSource",
    "ExportFormat", "HeldOutSplit", "LabelChange", "LabelDecision", "LabelStore",
    "LabelStoreError", "RelabelledImage", "apply_heldout", "correct_manifest", "default_user",
    "ensure_sha256", "export_corrected", "file_sha256", "pin_heldout", "pinned_heldout",
]
