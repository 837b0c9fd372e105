"""How well can a DenseNet121 learn the synthetic SEM data with a large budget? (GPU only.)

The CPU probes (``probe_learnability.py``, docs/attempts/learnability-2026-11-28.md) stayed near
chance. This script asks the question they could not afford: render tens of thousands of images
with the project's own generator, train the same architecture from scratch on a GPU for minutes,
and report the default-bundle acceptance figures on a seed-777 set. It is a measurement of the
generator's difficulty, not a way to build a bundle: it uses PyTorch and torchvision's
DenseNet121 (the same architecture as ``keras.applications.DenseNet121``) because the lent GPU
machines have PyTorch and no TensorFlow.

One model classifies all 8 classes; it plays both stages: "defective" is 1 - P(Clean) with the
threshold chosen on validation for the target recall, and the defect class is the arg-max over
the 7 defect classes.

    python benchmarks/ceiling_gpu.py --out DIR --sizes 128 224 --gen-seconds 150 \
        --train-seconds 200 160

Writes DIR/ceiling_gpu.json after every epoch (so a run cut short still reports).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sem_core.classes import CLASSES, CLEAN

TRAIN_SEED, TEST_SEED = 3001, 777


def _render(job: tuple[int, int, int, tuple[int, ...], int, float]):
    """(class index, {size: uint8 image}, hard) of one generator image; None if it failed."""
    from PIL import Image

    from sem_core.data.synth import SynthConfig, generate_sample

    seed, split, index, sizes, render_size, ease = job
    try:
        sample = generate_sample(SynthConfig(size=render_size, ease=ease), seed, split, index)
    except (RuntimeError, ValueError):
        return None
    picture = Image.fromarray(np.asarray(sample.image, dtype=np.uint8)).convert("L")
    images = {}
    for size in sizes:
        resized = (
            picture
            if picture.size == (size, size)
            else picture.resize((size, size), Image.Resampling.BOX)
        )
        images[size] = np.asarray(resized, dtype=np.uint8)
    return CLASSES.index(sample.sidecar.label_true), images, bool(sample.sidecar.hard)


def render_set(
    pool: Pool,
    seed: int,
    split: int,
    count: int,
    sizes: tuple[int, ...],
    render_size: int,
    ease: float,
    deadline: float | None = None,
) -> dict:
    jobs = [(seed, split, index, sizes, render_size, ease) for index in range(count)]
    labels, hard, images = [], [], {size: [] for size in sizes}
    for result in pool.imap(_render, jobs, chunksize=8):
        if result is not None:
            labels.append(result[0])
            hard.append(result[2])
            for size in sizes:
                images[size].append(result[1][size])
        if deadline is not None and time.monotonic() > deadline:
            break
    return {
        "y": np.array(labels),
        "hard": np.array(hard),
        "x": {size: np.stack(images[size]) for size in sizes},
    }


def _macro_f1(truth: np.ndarray, predicted: np.ndarray, labels: list[int]) -> tuple[float, dict]:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    per_class = {
        CLASSES[k]: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for k, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    return float(
        f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)
    ), per_class


def threshold_for_recall(defect_score: np.ndarray, is_defect: np.ndarray, target: float) -> float:
    """Largest threshold whose recall on defective images is at least ``target``."""
    scores = np.sort(defect_score[is_defect])
    keep = math.floor((1.0 - target) * len(scores))
    return float(scores[keep]) if len(scores) else 0.5


def acceptance_figures(
    probs: np.ndarray, y: np.ndarray, hard: np.ndarray, threshold: float
) -> dict:
    """The default-bundle acceptance figures of one 8-class probability table."""
    from sklearn.metrics import roc_auc_score

    clean = CLASSES.index(CLEAN)
    defect_score = 1.0 - probs[:, clean]
    is_defect = y != clean
    flagged = defect_score >= threshold
    defect_columns = [k for k in range(len(CLASSES)) if k != clean]
    stage2 = np.array(defect_columns)[np.argmax(probs[:, defect_columns], axis=1)]
    final = np.where(flagged, stage2, clean)
    end_to_end, per_class = _macro_f1(y, final, list(range(len(CLASSES))))
    stage2_f1, _ = _macro_f1(y[is_defect], stage2[is_defect], defect_columns)
    figures = {
        "n_images": len(y),
        "stage1_auc": round(float(roc_auc_score(is_defect, defect_score)), 4)
        if 0 < is_defect.sum() < len(y)
        else None,
        "stage1_recall": round(float(flagged[is_defect].mean()), 4),
        "stage1_overkill": round(float(flagged[~is_defect].mean()), 4)
        if (~is_defect).any()
        else None,
        "stage2_macro_f1_on_defective": round(stage2_f1, 4),
        "end_to_end_macro_f1": round(end_to_end, 4),
        "argmax_accuracy": round(float((np.argmax(probs, axis=1) == y).mean()), 4),
        "per_class": per_class,
    }
    if hard.any():
        hard_final = final[hard]
        figures["hard_subset"] = {
            "n_images": int(hard.sum()),
            "accuracy": round(float((hard_final == y[hard]).mean()), 4),
            "stage1_recall": round(float(flagged[hard & is_defect].mean()), 4)
            if (hard & is_defect).any()
            else None,
        }
    return figures


def train_one(size: int, data: dict, seconds: float, args, record: dict, save) -> dict:
    import torch
    import torch.nn.functional as F
    import torchvision

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True
    model = torchvision.models.densenet121(weights=None, num_classes=len(CLASSES))
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    amp = {"device_type": device.type, "dtype": torch.bfloat16, "enabled": device.type == "cuda"}

    def to_input(batch_uint8: torch.Tensor) -> torch.Tensor:
        x = batch_uint8.to(device, non_blocking=True).float().div_(255.0).sub_(0.5).div_(0.25)
        return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last)

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        flips = torch.rand(n, 3, generator=generator, device="cpu").to(x.device) < 0.5
        x = torch.where(flips[:, 0, None, None, None], x.flip(-1), x)
        x = torch.where(flips[:, 1, None, None, None], x.flip(-2), x)
        return torch.where(flips[:, 2, None, None, None], x.transpose(-1, -2), x)

    def predict(images: np.ndarray) -> np.ndarray:
        model.eval()
        out = []
        with torch.no_grad(), torch.autocast(**amp):
            for start in range(0, len(images), 512):
                batch = torch.from_numpy(images[start : start + 512])
                out.append(torch.softmax(model(to_input(batch)).float(), dim=1).cpu().numpy())
        model.train()
        return np.concatenate(out)

    train_x = torch.from_numpy(data["train"]["x"][size])
    if device.type == "cuda":
        train_x = train_x.to(device)
    train_y = torch.from_numpy(data["train"]["y"]).long().to(train_x.device)
    generator = torch.Generator().manual_seed(args.seed)
    run = {
        "size": size,
        "train_images": len(train_y),
        "batch": args.batch,
        "lr": args.lr,
        "train_seconds_budget": seconds,
        "epochs": [],
    }
    record["runs"].append(run)
    start = time.monotonic()
    best = (-1.0, None)
    images_seen, epoch = 0, 0
    while time.monotonic() - start < seconds:
        epoch += 1
        order = torch.randperm(len(train_y), generator=generator).to(train_x.device)
        losses = []
        for first in range(0, len(order) - args.batch + 1, args.batch):
            fraction = min(1.0, (time.monotonic() - start) / seconds)
            warm = min(1.0, fraction / 0.05)
            for group in optimizer.param_groups:
                group["lr"] = args.lr * warm * 0.5 * (1.0 + math.cos(math.pi * fraction))
            index = order[first : first + args.batch]
            x = augment(to_input(train_x[index]), generator)
            with torch.autocast(**amp):
                loss = F.cross_entropy(model(x), train_y[index], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            images_seen += len(index)
            if time.monotonic() - start > seconds:
                break
        val_probs = predict(data["val"]["x"][size])
        val_f1, _ = _macro_f1(
            data["val"]["y"], np.argmax(val_probs, axis=1), list(range(len(CLASSES)))
        )
        elapsed = time.monotonic() - start
        run["epochs"].append(
            {
                "epoch": epoch,
                "seconds": round(elapsed, 1),
                "train_loss": round(float(torch.stack(losses).mean()), 4),
                "val_argmax_macro_f1": round(val_f1, 4),
            }
        )
        run["images_per_second"] = round(images_seen / elapsed, 1)
        print(
            f"size {size} epoch {epoch} {elapsed:.0f}s loss {run['epochs'][-1]['train_loss']} "
            f"val macro-F1 {val_f1:.3f}",
            flush=True,
        )
        if val_f1 > best[0]:
            best = (val_f1, {k: v.detach().clone() for k, v in model.state_dict().items()})
        save()
    model.load_state_dict(best[1])
    val_probs = predict(data["val"]["x"][size])
    clean = CLASSES.index(CLEAN)
    threshold = threshold_for_recall(
        1.0 - val_probs[:, clean], data["val"]["y"] != clean, args.recall
    )
    run["best_val_argmax_macro_f1"] = round(best[0], 4)
    run["stage1_threshold_from_validation"] = round(threshold, 5)
    run["validation"] = acceptance_figures(
        val_probs, data["val"]["y"], data["val"]["hard"], threshold
    )
    for name in sorted(data):
        if name.startswith("test"):
            run[name.replace("test", "test_seed777", 1)] = acceptance_figures(
                predict(data[name]["x"][size]), data[name]["y"], data[name]["hard"], threshold
            )
    save()
    return run


def render_all(args, sizes: tuple[int, ...], began: float) -> dict:
    """Test sets first (fixed size), then validation, then training images until the deadline."""
    tests = args.test_per_class * len(CLASSES)
    with Pool(args.workers) as pool:
        data = {"test": render_set(pool, TEST_SEED, 2, tests, sizes, args.render_size, 0.0)}
        if args.ease:
            data["test_eased"] = render_set(
                pool, TEST_SEED, 2, tests, sizes, args.render_size, args.ease
            )
        data["val"] = render_set(
            pool, TRAIN_SEED, 1, args.val_images, sizes, args.render_size, args.ease
        )
        data["train"] = render_set(
            pool,
            TRAIN_SEED,
            0,
            args.max_train_images,
            sizes,
            args.render_size,
            args.ease,
            deadline=began + args.gen_seconds,
        )
        pool.terminate()
    return data


def save_arrays(path: Path, data: dict) -> None:
    arrays = {}
    for name, part in data.items():
        arrays[f"{name}__y"], arrays[f"{name}__hard"] = part["y"], part["hard"]
        for size, images in part["x"].items():
            arrays[f"{name}__x{size}"] = images
    np.savez_compressed(path, **arrays)
    print(f"saved {path} ({path.stat().st_size / 2**20:.1f} MiB)")


def load_arrays(path: Path, sizes: tuple[int, ...]) -> dict:
    with np.load(path) as arrays:
        names = {key.split("__")[0] for key in arrays.files}
        return {
            name: {
                "y": arrays[f"{name}__y"],
                "hard": arrays[f"{name}__hard"],
                "x": {size: arrays[f"{name}__x{size}"] for size in sizes},
            }
            for name in names
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128])
    parser.add_argument("--train-seconds", type=float, nargs="+", default=[200.0])
    parser.add_argument("--gen-seconds", type=float, default=150.0)
    parser.add_argument("--max-train-images", type=int, default=60000)
    parser.add_argument("--val-images", type=int, default=1600)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--recall", type=float, default=0.99)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render-size", type=int, default=224, help="generator field size")
    parser.add_argument(
        "--ease",
        type=float,
        default=0.0,
        help="generator ease of the training and validation images (tests: 0, and this value)",
    )
    parser.add_argument("--save-data", type=Path, help="render, save the arrays here, exit")
    parser.add_argument("--load-data", type=Path, help="train on arrays saved by --save-data")
    args = parser.parse_args()
    if len(args.train_seconds) != len(args.sizes):
        parser.error("give one --train-seconds per --sizes entry")

    record = {
        "command": "python " + " ".join(sys.argv),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "render_size": args.render_size,
        "ease": args.ease,
        "train_data": f"seed {TRAIN_SEED} split 0, ease {args.ease}",
        "validation_data": f"seed {TRAIN_SEED} split 1, ease {args.ease}",
        "test_data": f"seed {TEST_SEED} split 2, {args.test_per_class} per class, ease 0"
        + (f" (test_seed777_eased: ease {args.ease})" if args.ease else ""),
        "runs": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        (args.out / "ceiling_gpu.json").write_text(json.dumps(record, indent=2) + "\n")

    sizes = tuple(args.sizes)
    began = time.monotonic()
    if args.load_data:
        data = load_arrays(args.load_data, sizes)
        record["loaded_from"] = args.load_data.name
    else:
        data = render_all(args, sizes, began)
    record["render_seconds"] = round(time.monotonic() - began, 1)
    record["train_images"] = len(data["train"]["y"])
    print(
        f"{record['train_images']} train images ready in {record['render_seconds']} s", flush=True
    )
    if args.save_data:
        save_arrays(args.save_data, data)
        return 0

    import torch

    record["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    record["torch"] = torch.__version__
    save()
    for size, seconds in zip(sizes, args.train_seconds):
        train_one(size, data, seconds, args, record, save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
