"""The ``export`` command: a bundle's two stages to ONNX or LiteRT, behind the parity gate."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sem_core.deploy.options import ExportFormat, Precision

CALIBRATION_IMAGES = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the export command."""
    export = subparsers.add_parser(
        "export", help="export both stages to ONNX or LiteRT, kept only if it passes the parity gate",
        description="Convert a bundle's two Keras models to ONNX or LiteRT and run the parity gate "
                    "on the bundle's validation split (or --data): float32 must match every "
                    "probability within 1e-4; float16 and int8 must agree with Keras on 99.5 % of "
                    "decisions and keep macro-F1 within half a point, in each stage and end to end. "
                    "A passing export goes to BUNDLE/exports/FORMAT-PRECISION/ with export.json "
                    "(figures, converter versions, the cascade's speed against Keras); a failing one is deleted "
                    "and its figures printed. The bundle's own files are never changed.")
    export.add_argument("--bundle", required=True, type=Path, help="model bundle folder")
    export.add_argument("--format", required=True, choices=[item.value for item in ExportFormat],
                        help="onnx (ONNX Runtime) or litert (LiteRT / TFLite)")
    export.add_argument("--precision", default=Precision.FLOAT32.value,
                        choices=[item.value for item in Precision], help="weights precision")
    export.add_argument("--data", type=Path,
                        help="labelled dataset for the gate (its Validation split; default: the "
                             "dataset bundle.json names)")
    export.add_argument("--calibration", type=Path,
                        help="dataset for int8 calibration (its Train split; default: the gate "
                             "dataset's Train split)")
    export.add_argument("--calibration-images", type=int, default=CALIBRATION_IMAGES,
                        help="int8 calibration images drawn (seeded)")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Export, gate, and keep or refuse; exit 0 when kept, 1 when refused, 2 when impossible."""
    from sem_core.deploy.export import ExportRefused, export_bundle
    from sem_core.deploy.gate_data import (
        TRAIN,
        VALIDATION,
        ExportError,
        gate_dataset,
        labelled_images,
    )
    from sem_core.registry import BundleError, load_bundle

    export_format, precision = ExportFormat(args.format), Precision(args.precision)
    try:
        bundle = load_bundle(args.bundle)
        size = int(bundle.info.input_size)
        gate_path = gate_dataset(bundle.info, args.data)
        gate = labelled_images(gate_path, VALIDATION, size)
        calibration = None
        if precision is Precision.INT8:
            calibration = labelled_images(args.calibration or gate_path, TRAIN, size,
                                          limit=args.calibration_images)
        folder = export_bundle(bundle, export_format, precision, gate, calibration=calibration,
                               command=shlex.join(["python", "-m", "sem_core", *sys.argv[1:]]),
                               progress=lambda line: print(line, file=sys.stderr))
    except ExportRefused as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    except (BundleError, ExportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from sem_core.deploy.serving import list_exports

    # Read back through the same checks predict uses, so what is printed is what will be served.
    info = next(item.info for item in list_exports(args.bundle)[0] if item.path == folder)
    print(info.parity.describe())
    print(f"passed; the cascade ran {info.speedup:.2f}x Keras' speed on the gate's images "
          f"-> {folder}")
    return 0
