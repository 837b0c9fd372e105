"""Review queue: rank images by how likely their label is wrong, with a suggested label.

``build_review_queue`` (``queue``) embeds images with the active bundle (``features``), gets
out-of-sample probabilities from a cross-validated linear model (``out_of_sample``) and ranks
with cleanlab's confident learning plus low confidence, stage disagreement and user flags
(``ranking``); flagged images outside the ranked splits (held-out Test) are predicted by the
linear model fitted on the whole pool (``fit_and_predict``). Importing this package does not
load TensorFlow.
"""

from sem_core.review.out_of_sample import (CrossValidationConfig, fit_and_predict,
                                           out_of_sample_probabilities)
from sem_core.review.queue import ReviewConfig, ReviewItem, ReviewQueue, build_review_queue
from sem_core.review.ranking import RankedImage, ReviewReason, label_issue_mask, rank_for_review

__all__ = [
    "CrossValidationConfig", "RankedImage", "ReviewConfig", "ReviewItem", "ReviewQueue",
    "ReviewReason", "build_review_queue", "fit_and_predict", "label_issue_mask",
    "out_of_sample_probabilities", "rank_for_review",
]
