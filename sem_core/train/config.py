"""Training configuration: one frozen dataclass that is also the bundle.json ``training`` record."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum

from sem_core.models.backbones import DEFAULT_BACKBONE, get_backbone

# Stage 1 as the small CNN screener (``sem_core.models.build_stage1``), not on a backbone.
STAGE1_CNN = "cnn"
FINETUNE_ALL = "all"
"""``TrainConfig.finetune_layers`` value that unfreezes the whole backbone (batch norm stays frozen)."""


class Recipe(str, Enum):
    """How the stages learn.

    ``standard``: from pretrained weights, two phases (backbone frozen, then its last layers at
    a lower rate, batch norm frozen) with early stopping on validation macro-F1 (AUC for stage
    1); from random weights, one phase. ``probe``: the pretrained backbone stays frozen; each
    stage's head is a logistic regression on its pooled features (a fast first look).
    """

    STANDARD = "standard"
    PROBE = "probe"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (with the data, it fixes the result).

    Attributes:
        image_size: Square input size of both stages, in pixels. Default: 128.
        backbone: Stage-2 backbone name. Default: "densenet121".
        weights: Initial weights: "imagenet", "none", "default" or a path. Default: "none".
        epochs: Most stage-2 epochs (both phases together when fine-tuning). Default: 20.
        stage1_epochs: Most stage-1 epochs. Default: 15.
        batch_size: Images per step. Default: 16.
        stage1_recall: Defect recall the stage-1 threshold must reach on validation. Default: 0.99.
        seed: Seed of every random choice (Keras, TF, NumPy, augmentation, shuffling). Default: 0.
        stage1_width: Filters of stage 1's first block. Default: 16.
        label_smoothing: Label smoothing of both losses. Default: 0.1.
        scratch_learning_rate: Adam rate when training from scratch. Default: 1e-3.
        frozen_learning_rate: Adam rate of fine-tuning phase 1 (backbone frozen). Default: 1e-4.
        finetune_learning_rate: Adam rate of phase 2 (last layers unfrozen). Default: 1e-5.
        stage1_learning_rate: Adam rate of stage 1. Default: 1e-3.
        finetune_layers: Backbone layers unfrozen in phase 2, counted from the top, or "all"
            (``FINETUNE_ALL``: every layer but batch norm). Default: 40, the notebook's choice;
            the shipped default bundle uses "all", which scored higher at the same cost here.
        frozen_fraction: Share of ``epochs`` spent in phase 1 when fine-tuning. Default: 0.5.
        patience: Early-stopping patience in epochs (learning-rate patience is half). Default: 5.
        augment: Augmentation level of training batches: "full", "light" or "none"
            (``sem_core.train.augment.AugmentLevel``). Default: "full".
        deterministic: Deterministic TF ops and sequential augmentation (repeatable runs,
            somewhat slower input pipeline). Default: True.
        max_minutes: Wall-time budget of training both stages; training stops at the epoch boundary
            where one more epoch would overrun it, keeping the best weights so far. 0 means no
            budget. A budget makes results depend on machine speed. Default: 0.
        stage1_backbone: "cnn" (the small screener) or a registered backbone, which then starts
            from ``weights`` as stage 2 does. The probe recipe always screens on ``backbone``.
            Default: "cnn".
        recipe: "standard" or "probe" (``Recipe``); probe needs pretrained weights.
            Default: "standard".
        stage1_from_stage2: Train stage 2 first and start stage 1 from its trained backbone
            (same backbone on both stages, ``standard`` recipe). A backbone that has learnt to
            tell the seven defects apart already separates them from the clean pattern; the
            screen then only learns where Clean lies. Ignored where stage 1 starts from a
            bundle's own stage 1 (a fine-tuning retrain). Default: False.
    """

    image_size: int = 128
    backbone: str = DEFAULT_BACKBONE
    weights: str = "none"
    epochs: int = 20
    stage1_epochs: int = 15
    batch_size: int = 16
    stage1_recall: float = 0.99
    seed: int = 0
    stage1_width: int = 16
    label_smoothing: float = 0.1
    scratch_learning_rate: float = 1e-3
    frozen_learning_rate: float = 1e-4
    finetune_learning_rate: float = 1e-5
    stage1_learning_rate: float = 1e-3
    finetune_layers: int | str = 40
    frozen_fraction: float = 0.5
    patience: int = 5
    augment: str = "full"
    deterministic: bool = True
    max_minutes: float = 0.0
    stage1_backbone: str = STAGE1_CNN
    recipe: str = Recipe.STANDARD.value
    stage1_from_stage2: bool = False

    def __post_init__(self) -> None:
        get_backbone(self.backbone)
        try:
            recipe = Recipe(self.recipe)
        except ValueError as error:
            raise ValueError(f"recipe must be one of {', '.join(item.value for item in Recipe)}. "
                             f"Received `recipe={self.recipe!r}`.") from error
        object.__setattr__(self, "recipe", recipe.value)
        if recipe == Recipe.PROBE:
            if str(self.weights).strip().lower() in ("none", ""):
                raise ValueError("The probe recipe fits heads on pretrained features; give "
                                 "`weights=imagenet` (or a bundle). Received `weights='none'`.")
            object.__setattr__(self, "stage1_backbone", self.backbone)
        if self.stage1_backbone != STAGE1_CNN:
            object.__setattr__(self, "stage1_backbone", get_backbone(self.stage1_backbone).name)
        for name in ("image_size", "epochs", "batch_size", "stage1_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1. Received `{name}={getattr(self, name)}`.")
        if self.stage1_epochs < 0:
            raise ValueError(f"stage1_epochs must be >= 0. Received `stage1_epochs={self.stage1_epochs}`.")
        if not 0.0 < self.stage1_recall <= 1.0:
            raise ValueError(f"stage1_recall must be in (0, 1]. Received `stage1_recall={self.stage1_recall}`.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                f"label_smoothing must be in [0, 1). Received `label_smoothing={self.label_smoothing}`.")
        if isinstance(self.augment, bool):  # bundles written before levels existed stored a flag
            object.__setattr__(self, "augment", "full" if self.augment else "none")
        if self.augment not in ("full", "light", "none"):
            raise ValueError(f"augment must be full, light or none. Received `augment={self.augment!r}`.")
        if self.max_minutes < 0:
            raise ValueError(f"max_minutes must be >= 0. Received `max_minutes={self.max_minutes}`.")
        if self.finetune_layers != FINETUNE_ALL and (
                isinstance(self.finetune_layers, bool) or not isinstance(self.finetune_layers, int)
                or self.finetune_layers < 0):
            raise ValueError(f"finetune_layers must be a count >= 0 or {FINETUNE_ALL!r}. "
                             f"Received `finetune_layers={self.finetune_layers!r}`.")
        if self.stage1_from_stage2 and (self.stage1_backbone != self.backbone
                                        or recipe != Recipe.STANDARD):
            raise ValueError("stage1_from_stage2 starts stage 1 from stage 2's trained backbone: "
                             "it needs the standard recipe and the same backbone on both stages "
                             f"(`stage1_backbone={self.backbone!r}`). Received "
                             f"`stage1_backbone={self.stage1_backbone!r}`, `recipe={recipe.value!r}`.")
        if not 0.0 <= self.frozen_fraction <= 1.0:
            raise ValueError(
                f"frozen_fraction must be in [0, 1]. Received `frozen_fraction={self.frozen_fraction}`.")

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TrainConfig:
        """Rebuild from ``to_dict`` output; unknown keys (from newer versions) are ignored."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
