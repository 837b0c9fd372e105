"""Commands that run a bundle: ``predict``, ``evaluate`` and ``explain``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sem_core.explain.heatmap import DEFAULT_CAM_METHOD, CamMethod

RESULT_FORMATS = (".csv", ".parquet")
RUNTIMES = ("auto", "keras", "onnx", "litert")
ENGINES = ("local", "ray")
SMALL_RAY_JOB = 3000
"""Fewer images than this on a local Ray instance get a note that the local engine is faster
(measured: Ray keeps 70 % of its throughput from 2,800-3,100 images of the shipped model,
benchmarks/results/serving_default.json)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the predict, evaluate and explain commands."""
    predict = subparsers.add_parser(
        "predict", help="run the cascade on images, a folder or a zip and write one row per file",
        description="Run a bundle's two-stage cascade. Every input file gets a row; files that "
                    "cannot be decoded get their error in the 'error' column and the run goes on.")
    predict.add_argument("--bundle", required=True, type=Path, help="model bundle folder")
    predict.add_argument("--input", required=True, nargs="+", type=Path,
                         help="image files, folders (searched recursively), zip archives or "
                              "manifest CSVs (path,label,...: the files they list)")
    predict.add_argument("--out", required=True, type=Path,
                         help="results table: .csv or .parquet (never overwritten)")
    predict.add_argument("--cam-dir", type=Path,
                         help="also write a heat-map overlay (LayerCAM) per image here")
    predict.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    predict.add_argument("--review-threshold", type=float, default=0.6,
                         help="final confidence under which a row needs review (default 0.6)")
    predict.add_argument("--stage1-threshold", type=float,
                         help="override the bundle's stage-1 operating threshold")
    predict.add_argument("--runtime", default="auto", choices=RUNTIMES,
                         help="what runs the models: keras, an export that passed its parity gate "
                              "(onnx, litert; see the export command), or auto: the fastest "
                              "passed export, else keras. Grad-CAM (--cam-dir) always uses Keras")
    predict.add_argument("--engine", default="local", choices=ENGINES,
                         help="local: this process; ray: Ray Data map_batches over a pool of "
                              "actors, each holding the models")
    predict.add_argument("--address",
                         help="Ray cluster to join (e.g. ray://head:10001 or auto); default: start "
                              "a local Ray instance with this machine's cores")
    predict.add_argument("--actors", type=int,
                         help="Ray actors (default: one per core of the local instance, or per "
                              "CPU of the cluster)")
    predict.set_defaults(func=run_predict)

    evaluate = subparsers.add_parser(
        "evaluate", help="score a bundle on a labelled dataset split",
        description="Evaluate a bundle on a labelled dataset (any layout `dataset check` reads). "
                    "Writes the JSON report, the per-image predictions (CSV) and confusion-matrix "
                    "HTML files beside the report.")
    evaluate.add_argument("--bundle", required=True, type=Path, help="model bundle folder")
    evaluate.add_argument("--data", required=True, type=Path, help="labelled dataset folder or CSV")
    evaluate.add_argument("--split", default="Test", choices=("Train", "Validation", "Test", "all"),
                          help="split to evaluate; 'all' takes every image (default Test)")
    evaluate.add_argument("--class-map", default="", help="extra folder names, e.g. cmp=Other,ler=Other")
    evaluate.add_argument("--out", required=True, type=Path, help="report JSON path")
    evaluate.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    evaluate.set_defaults(func=run_evaluate)

    explain = subparsers.add_parser(
        "explain", help="draw where a stage looked (Grad-CAM, Grad-CAM++, Score-CAM)",
        description="Explain one image with either stage of a bundle and write the overlay PNG "
                    "at the image's original size.")
    explain.add_argument("--bundle", required=True, type=Path, help="model bundle folder")
    explain.add_argument("--image", required=True, type=Path, help="image file")
    explain.add_argument("--method", default=DEFAULT_CAM_METHOD.value,
                         choices=[m.value for m in CamMethod],
                         help=f"explanation method (default {DEFAULT_CAM_METHOD.value})")
    explain.add_argument("--stage", type=int, choices=(1, 2),
                         help="stage to explain (default: 2 when the cascade calls it defective, else 1)")
    explain.add_argument("--class-name", help="class to explain (default: the stage's decision)")
    explain.add_argument("--alpha", type=float, default=0.4, help="overlay opacity (default 0.4)")
    explain.add_argument("--out", required=True, type=Path, help="overlay PNG path")
    explain.set_defaults(func=run_explain)


def _load_bundle(path: Path):
    """The loaded bundle, or None after printing why it cannot be used (naming the file)."""
    from sem_core.registry import BundleError, load_bundle

    try:
        return load_bundle(path)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _refuse_existing(path: Path) -> bool:
    if path.exists():
        print(f"error: {path} already exists; choose another --out (results are never overwritten).",
              file=sys.stderr)
        return True
    return False


def run_predict(args: argparse.Namespace) -> int:
    """Stream the cascade over the inputs and append each batch's rows to the results table.

    The table is written to a ``*.partial`` file beside ``--out`` and renamed when complete, so
    memory stays flat however many files there are and a killed run leaves no half table.
    """
    from tqdm import tqdm

    from sem_core.inference import BundleExplainer, count_sources, stream_predictions
    from sem_core.results_writer import ResultsWriter

    if args.out.suffix.lower() not in RESULT_FORMATS:
        print(f"error: --out must end in .csv or .parquet; received {args.out}.", file=sys.stderr)
        return 2
    if _refuse_existing(args.out):
        return 2
    if args.engine == "ray":
        return _predict_on_ray(args)
    # Keras models are loaded only when they run or Grad-CAM needs them.
    bundle = _load_bundle(args.bundle) if args.runtime == "keras" or args.cam_dir else args.bundle
    if bundle is None:
        return 2
    stages = _serving_stages(bundle, args.runtime)
    if stages is None:
        return 2
    inputs = _expand_inputs(args.input)
    if inputs is None:
        return 2
    explainer = BundleExplainer(bundle) if args.cam_dir else None
    # Counting lists the files without decoding or keeping them; it only sizes the progress bar.
    total = count_sources(inputs)
    try:
        with ResultsWriter(args.out) as writer, \
                tqdm(total=total, unit="img", desc="predict", file=sys.stderr) as bar:
            predictions = stream_predictions(
                bundle, inputs, progress=bar.update, batch_size=args.batch_size,
                review_threshold=args.review_threshold, stage1_threshold=args.stage1_threshold,
                stages=stages)
            for number, (source, result) in enumerate(predictions, start=1):
                writer.write(result)
                if explainer is not None and result.ok:
                    _write_cam(explainer, source, result, args.cam_dir, number)
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_summary(writer.summary(), stages.describe())
    return 0


def _expand_inputs(inputs: list[Path]) -> list | None:
    """The inputs with manifest CSVs replaced by their files, or None after printing why not."""
    from sem_core.data.sources import expand_manifests
    from sem_core.errors import DatasetError

    try:
        return expand_manifests(inputs)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _serving_stages(bundle, runtime: str):
    """The predictors of a runtime, or None after printing why there are none."""
    from sem_core.deploy import ExportError
    from sem_core.deploy.serving import serving_stages
    from sem_core.registry import BundleError

    try:
        return serving_stages(bundle, runtime)
    except (ExportError, BundleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _predict_on_ray(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sem_core.deploy import ExportError
    from sem_core.deploy.ray_engine import RayOptions, predict_on_ray
    from sem_core.inference import count_sources
    from sem_core.registry import BundleError

    if args.cam_dir:
        print("error: --cam-dir needs --engine local (Grad-CAM runs the Keras models here).",
              file=sys.stderr)
        return 2
    inputs = _expand_inputs(args.input)
    if inputs is None:
        return 2
    try:
        options = RayOptions(address=args.address, actors=args.actors, runtime=args.runtime,
                             batch_size=args.batch_size, review_threshold=args.review_threshold,
                             stage1_threshold=args.stage1_threshold)
        total = count_sources(inputs)
        if args.address is None and total < SMALL_RAY_JOB:
            print(f"note: {total} images on a Ray instance started for them: its start-up "
                  "(about 10 s on 2 cores) outweighs its throughput below a few thousand "
                  "images on one machine, where --engine local is faster (docs/deployment.md).",
                  file=sys.stderr)
        with tqdm(total=total, unit="img", desc="predict (ray)", file=sys.stderr) as bar:
            summary, runtime = predict_on_ray(args.bundle, inputs, args.out, options,
                                              progress=bar.update)
    except (ExportError, BundleError, FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_summary(summary, f"{runtime} on Ray")
    return 0


def _print_summary(summary, runtime: str) -> None:
    print(f"{summary.files} files: {summary.classified} classified, {summary.errors} could not be "
          f"read ({runtime}) -> {summary.path}")


def _write_cam(explainer, source, result, cam_dir: Path, number: int) -> None:
    from PIL import Image

    from sem_core.explain import overlay

    pixels = source.load().pixels
    stage = 2 if result.stage1_decision == "Defective" else 1
    heatmap = explainer.explain(pixels, stage=stage)
    cam_dir.mkdir(parents=True, exist_ok=True)
    name = f"{number:06d}_{Path(result.source).stem}_{result.final_label}.png"
    Image.fromarray(overlay(pixels, heatmap)).save(cam_dir / name)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate and write report.json, predictions CSV and confusion-matrix HTML."""
    from tqdm import tqdm

    from sem_core.data.layouts import load_dataset
    from sem_core.evaluation import evaluate_bundle, select_split

    if _refuse_existing(args.out):
        return 2
    class_map = dict(pair.split("=", 1) for pair in args.class_map.split(",") if "=" in pair)
    dataset = load_dataset(args.data, class_map=class_map or None)
    for bad in dataset.bad_files:
        print(f"skipped {bad.path}: {bad.reason}", file=sys.stderr)
    bundle = _load_bundle(args.bundle)
    if bundle is None:
        return 2
    total = len(select_split(dataset.manifest, args.split))
    with tqdm(total=total, unit="img", desc="evaluate", file=sys.stderr) as bar:
        run = evaluate_bundle(bundle, dataset.manifest, split=args.split, progress=bar.update,
                              batch_size=args.batch_size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(run.report.to_json() + "\n", encoding="utf-8")
    stem = args.out.with_suffix("")
    run.predictions.to_csv(f"{stem}_predictions.csv", index=False)
    for name, figure in confusion_figures(run.report).items():
        figure.write_html(f"{stem}_confusion_{name}.html", include_plotlyjs="cdn")
    report = run.report
    print(f"{report.n_images} images ({args.split}): accuracy {report.accuracy:.4f}, "
          f"macro-F1 {report.macro_f1:.4f}; report -> {args.out}")
    if report.scaling is not None:
        print(f"calibration: {report.scaling.describe()}")
    return 0


def confusion_figures(report) -> dict:
    """Plotly heat maps of the stage-1, stage-2 and end-to-end confusion matrices."""
    import plotly.express as px

    data = report.to_dict()
    matrices = {"end_to_end": data["confusion_matrix"]}
    if data.get("stage1", {}).get("confusion_matrix"):
        matrices["stage1"] = data["stage1"]["confusion_matrix"]
    if data.get("stage2", {}).get("confusion_matrix"):
        matrices["stage2"] = data["stage2"]["confusion_matrix"]
    figures = {}
    for name, matrix in matrices.items():
        figure = px.imshow(matrix["matrix"], x=matrix["labels"], y=matrix["labels"], text_auto=True,
                           color_continuous_scale="Blues",
                           labels={"x": "predicted", "y": "true", "color": "images"},
                           title=f"Confusion matrix ({name.replace('_', ' ')})")
        figures[name] = figure
    return figures


def run_explain(args: argparse.Namespace) -> int:
    """Explain one image and write the overlay."""
    from PIL import Image

    from sem_core.data.image_io import load_image
    from sem_core.data.sources import iter_sources
    from sem_core.errors import ImageLoadError
    from sem_core.explain import overlay
    from sem_core.inference import BundleExplainer, cascade_from_bundle

    if _refuse_existing(args.out):
        return 2
    try:
        pixels = load_image(args.image).pixels
    except ImageLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    bundle = _load_bundle(args.bundle)
    if bundle is None:
        return 2
    (result,) = cascade_from_bundle(bundle).run(iter_sources([args.image]))
    stage = args.stage or (2 if result.stage1_decision == "Defective" else 1)
    heatmap = BundleExplainer(bundle).explain(pixels, stage=stage, method=args.method,
                                              class_name=args.class_name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(overlay(pixels, heatmap, alpha=args.alpha)).save(args.out)
    print(json.dumps({"image": str(args.image), "final_label": result.final_label,
                      "confidence": result.confidence, "stage": stage, "method": args.method,
                      "seconds": round(heatmap.seconds, 4), "overlay": str(args.out)}))
    return 0
