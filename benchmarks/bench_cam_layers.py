"""Which feature map should a stage's heat map come from? Pointing game and time per layer.

Grad-CAM weights one feature map; a coarse map (DenseNet121 ends in 3x3 at 96 px) can only
point at a third of the image. This scores, for each given layer of one stage of a bundle, the
pointing game (heat-map peak inside the dilated defect mask) and the seconds per image, side by
side in one process, on the defect images of a labelled folder with masks (``manifest.csv`` with
a ``mask`` column: the synth generator's or ``benchmarks/control_set.py``'s).

    .venv/bin/python benchmarks/bench_cam_layers.py --bundle B --data DIR --stage 2 \
        --layers auto backbone_features pool4_relu pool3_relu --dilation 4 \
        --out benchmarks/results/cam_layers.json

``auto`` stands for the layer ``sem_core.explain.side_model.localising_layer`` picks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.record import machine_facts, utc_stamp, write_record
from sem_core.classes import CLEAN, DEFECTIVE
from sem_core.data.image_io import load_image
from sem_core.data.manifest import Manifest
from sem_core.registry import load_bundle

METHODS = ("gradcam", "gradcampp", "layercam")


def defect_images(data: Path, limit: int) -> tuple[list, list[np.ndarray], list[np.ndarray]]:
    """(entries, images, masks) of up to ``limit`` defect images that have a mask."""
    manifest = Manifest.read_csv(data / "manifest.csv")
    entries = [entry for entry in manifest.entries
               if entry.label != CLEAN and entry.extras.get("mask")][:limit]
    if not entries:
        raise SystemExit(f"{data / 'manifest.csv'}: no defect image with a mask column entry")
    images = [load_image(manifest.resolve(entry)).pixels for entry in entries]
    masks = [load_image(Path(manifest.root) / entry.extras["mask"]).pixels > 0.5
             for entry in entries]
    return entries, images, masks


def score_layer(model, layer: str, stage: int, classes: list[str], entries, images, masks,
                dilation: float, threshold: float,
                methods: tuple[str, ...] = METHODS) -> dict[str, object]:
    """Pointing game and seconds per image of each method on one layer."""
    from sem_core.explain import Explainer, pointing_game

    explainer = Explainer(model, layer_name=layer, decision_threshold=threshold)
    shape = model.get_layer(layer).output.shape
    row: dict[str, object] = {"layer": layer, "map": [int(shape[1]), int(shape[2])]}
    explainer.explain(images[0].astype(np.float32))  # trace once, outside the timing
    for method in methods:
        started = time.perf_counter()
        maps = [explainer.explain(image.astype(np.float32), method=method,
                                  class_index=classes.index(DEFECTIVE if stage == 1 else entry.label))
                for image, entry in zip(images, entries)]
        seconds = (time.perf_counter() - started) / len(images)
        result = pointing_game(maps, masks, dilation_px=dilation)
        row[method] = {"hits": result.hits, "total": result.total, "rate": result.rate,
                       "low": result.proportion.low, "high": result.proportion.high,
                       "seconds_per_image": seconds}
        print(layer, method, f"{result.rate:.3f} ({result.hits}/{result.total}), "
              f"{seconds:.3f} s/image", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="folder with manifest.csv and masks")
    parser.add_argument("--stage", type=int, choices=(1, 2), default=2)
    parser.add_argument("--layers", nargs="+", default=["auto"],
                        help="layer names; 'auto' = the layer localising_layer picks")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--dilation", type=float, default=8.0, help="mask dilation in pixels")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)

    from sem_core.explain.side_model import localising_layer

    bundle = load_bundle(args.bundle)
    info = bundle.info.stage1 if args.stage == 1 else bundle.info.stage2
    model = bundle.stage1 if args.stage == 1 else bundle.stage2
    auto = localising_layer(model)
    layers = [auto if name == "auto" else name for name in args.layers]
    entries, images, masks = defect_images(args.data, args.images)
    rows = [score_layer(model, layer, args.stage, list(info.classes), entries, images, masks,
                        args.dilation, float(bundle.info.stage1_model_threshold),
                        tuple(args.methods)) for layer in layers]
    write_record(args.out, {
        "note": args.note, "command": " ".join(["python", *sys.argv]),
        "bundle": str(args.bundle), "input_size": int(bundle.info.input_size),
        "stage": args.stage, "recorded_layer": info.gradcam_layer, "localising_layer": auto,
        "data": str(args.data), "dilation_px": args.dilation, "layers": rows,
        "machine": machine_facts(), "recorded": utc_stamp(),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
