"""``python -m sem_core train``: train both stages on a dataset folder and write a bundle."""

from __future__ import annotations

import argparse
import shlex
import sys

from sem_core.models.backbones import DEFAULT_BACKBONE, backbone_names, offline_imagenet_names
from sem_core.train.config import FINETUNE_ALL, STAGE1_CNN, Recipe, TrainConfig

_DEFAULTS = TrainConfig()


def register(subparsers) -> None:
    """Add the ``train`` command."""
    parser = subparsers.add_parser(
        "train", help="train the two-stage cascade and write a model bundle",
        description="Train stage 1 (Clean vs Defective) and stage 2 (defect class) on a dataset "
                    "(Kaggle layout, class folders or manifest CSV) and write a new bundle folder.")
    parser.add_argument("--data", required=True, nargs="+",
                        help="dataset folder(s) or manifest CSV(s); several are trained on together")
    parser.add_argument("--out", required=True, help="bundle folder to create (must not exist)")
    parser.add_argument("--image-size", type=int, default=_DEFAULTS.image_size, help="input size in px")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=backbone_names(),
                        help="stage-2 backbone; ImageNet weights offline (pip-installed): "
                             f"{', '.join(offline_imagenet_names())}; the others download them")
    parser.add_argument("--weights", default=_DEFAULTS.weights,
                        help="initial weights: imagenet, none, default (shipped bundle), or a path "
                             "(bundle folder, .keras model, no-top .h5 file)")
    parser.add_argument("--stage1-backbone", default=STAGE1_CNN, choices=(STAGE1_CNN, *backbone_names()),
                        help="stage-1 screener: the small CNN, or a backbone that starts from "
                             "--weights like stage 2")
    parser.add_argument("--recipe", default=_DEFAULTS.recipe, choices=[item.value for item in Recipe],
                        help="standard: fine-tune in two phases from pretrained weights (train from "
                             "scratch otherwise); probe: logistic-regression heads on frozen "
                             "pretrained features, a first look in about a minute")
    parser.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="most stage-2 epochs")
    parser.add_argument("--stage1-epochs", type=int, default=_DEFAULTS.stage1_epochs, help="most stage-1 epochs")
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    parser.add_argument("--stage1-recall", type=float, default=_DEFAULTS.stage1_recall,
                        help="defect recall the stage-1 threshold must reach on validation")
    parser.add_argument("--stage1-width", type=int, default=_DEFAULTS.stage1_width)
    parser.add_argument("--patience", type=int, default=_DEFAULTS.patience, help="early-stopping patience")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="wall-time budget; stops at an epoch boundary keeping the best weights (0: none)")
    parser.add_argument("--augment", choices=("full", "light", "none"), default=_DEFAULTS.augment,
                        help="augmentation level (light: flips, 90-degree turns, mild brightness/contrast)")
    parser.add_argument("--learning-rate", type=float, default=_DEFAULTS.scratch_learning_rate,
                        help="Adam learning rate of from-scratch training (stage 2)")
    parser.add_argument("--frozen-learning-rate", type=float, default=_DEFAULTS.frozen_learning_rate,
                        help="Adam learning rate of fine-tuning phase 1 (pretrained backbone frozen)")
    parser.add_argument("--finetune-learning-rate", type=float, default=_DEFAULTS.finetune_learning_rate,
                        help="Adam learning rate of fine-tuning phase 2 (last backbone layers unfrozen)")
    parser.add_argument("--finetune-layers", type=_finetune_layers, default=_DEFAULTS.finetune_layers,
                        help="backbone layers unfrozen in fine-tuning phase 2, counted from the top, "
                             f"or {FINETUNE_ALL} (batch norm stays frozen either way)")
    parser.add_argument("--frozen-fraction", type=float, default=_DEFAULTS.frozen_fraction,
                        help="share of each pretrained stage's epochs spent with the backbone frozen")
    parser.add_argument("--stage1-from-stage2", action="store_true",
                        help="train stage 2 first and start stage 1 from its trained backbone "
                             "(needs --stage1-backbone equal to --backbone)")
    parser.add_argument("--fast-nondeterministic", action="store_true",
                        help="allow non-deterministic ops and a parallel input pipeline")
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` a parsed command line asks for."""
    return TrainConfig(
        image_size=args.image_size, backbone=args.backbone, weights=args.weights, epochs=args.epochs,
        stage1_epochs=args.stage1_epochs, batch_size=args.batch_size, stage1_recall=args.stage1_recall,
        seed=args.seed, stage1_width=args.stage1_width, patience=args.patience,
        augment=args.augment, scratch_learning_rate=args.learning_rate,
        deterministic=not args.fast_nondeterministic,
        max_minutes=args.max_minutes, stage1_backbone=args.stage1_backbone, recipe=args.recipe,
        frozen_learning_rate=args.frozen_learning_rate,
        finetune_learning_rate=args.finetune_learning_rate, finetune_layers=args.finetune_layers,
        frozen_fraction=args.frozen_fraction, stage1_from_stage2=args.stage1_from_stage2)


def _finetune_layers(text: str) -> int | str:
    """``--finetune-layers``: a count >= 0 or "all"."""
    if text.strip().lower() == FINETUNE_ALL:
        return FINETUNE_ALL
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0 or {FINETUNE_ALL}, got {text!r}")
    return count


def command_line(args: argparse.Namespace) -> str:
    """The full command, every option spelled out, so the run can be repeated exactly."""
    parts = ["python", "-m", "sem_core", "train", "--data", *args.data, "--out", args.out,
             "--image-size", str(args.image_size), "--backbone", args.backbone, "--weights", args.weights,
             "--epochs", str(args.epochs), "--stage1-epochs", str(args.stage1_epochs),
             "--batch-size", str(args.batch_size), "--stage1-recall", str(args.stage1_recall),
             "--stage1-width", str(args.stage1_width), "--patience", str(args.patience),
             "--seed", str(args.seed), "--max-minutes", f"{args.max_minutes:g}",
             "--augment", args.augment, "--learning-rate", f"{args.learning_rate:g}",
             "--stage1-backbone", args.backbone if args.recipe == Recipe.PROBE.value else args.stage1_backbone,
             "--recipe", args.recipe, "--frozen-learning-rate", f"{args.frozen_learning_rate:g}",
             "--finetune-learning-rate", f"{args.finetune_learning_rate:g}",
             "--finetune-layers", str(args.finetune_layers), "--frozen-fraction", f"{args.frozen_fraction:g}"]
    parts += ["--stage1-from-stage2"] * args.stage1_from_stage2
    parts += ["--fast-nondeterministic"] * args.fast_nondeterministic
    return shlex.join(parts)


def combine_manifests(manifests: list):
    """One manifest over several datasets, with absolute paths (a single one is returned as is)."""
    if len(manifests) == 1:
        return manifests[0]
    from dataclasses import replace

    entries = [replace(entry, path=str(manifest.resolve(entry).resolve()))
               for manifest in manifests for entry in manifest.entries]
    return manifests[0].with_entries(entries)


def run(args: argparse.Namespace) -> int:
    """Run the ``train`` command; returns 0 on success, 1 on a user-fixable error."""
    from sem_core.errors import SemCoreError

    try:
        config = config_from_args(args)
        return _train(args, config)
    except (SemCoreError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _train(args: argparse.Namespace, config: TrainConfig) -> int:
    from pathlib import Path

    from sem_core.models.weights import WeightsKind, ensure_imagenet_available, parse_weights
    from sem_core.registry import BundleError

    # Cheap checks first: nobody should wait for a dataset scan to learn the weights are missing.
    if parse_weights(config.weights).kind == WeightsKind.IMAGENET:
        for backbone in {config.backbone, config.stage1_backbone} - {STAGE1_CNN}:
            ensure_imagenet_available(backbone)
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out}: already exists; bundles are never overwritten. Choose a new folder.")

    from sem_core.data.layouts import load_dataset
    from sem_core.train.progress import TqdmProgress
    from sem_core.train.run import train_bundle

    manifests = []
    for data in args.data:
        loaded = load_dataset(data, seed=config.seed, progress=True)
        for bad in loaded.bad_files:
            print(f"skipped {bad.path}: {bad.reason}", file=sys.stderr)
        manifests.append(loaded.manifest)
    with TqdmProgress() as progress:
        result = train_bundle(combine_manifests(manifests), out, config, command=command_line(args),
                              listener=progress)
    metrics = result.info.metrics
    print(f"bundle: {result.bundle}\n"
          f"stage-1 threshold {result.info.stage1_threshold:.4f}: recall {metrics['stage1_recall']:.3f}, "
          f"overkill {metrics['stage1_overkill_rate']:.3f}; stage-2 macro-F1 {metrics['stage2_macro_f1']:.3f}; "
          f"cascade macro-F1 {metrics['cascade_macro_f1']:.3f} (validation); "
          f"temperatures {result.info.stage1_temperature:.3f} "
          f"(bias {result.info.stage1_bias:+.3f}) / {result.info.stage2_temperature:.3f}; "
          f"{result.seconds:.0f} s")
    return 0
