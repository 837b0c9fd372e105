"""Exports of a tiny bundle: a faithful one passes its gate and serves the same labels; a
perturbed one is refused with its figures and can never be served."""

import json

import numpy as np
import pandas as pd
import pytest

from sem_core.cli import main
from sem_core.deploy.convert import convert_model
from sem_core.deploy.export import ExportRefused, export_bundle, file_sha256
from sem_core.deploy.gate_data import VALIDATION, ExportError, labelled_images
from sem_core.deploy.options import ExportFormat, Precision
from sem_core.deploy.serving import choose_export, list_exports, serving_stages


def bundle_files(bundle):
    return {path.name: file_sha256(path) for path in bundle.iterdir() if path.is_file()}


def gate_images(bundle, dataset):
    from sem_core.registry import load_bundle

    loaded = load_bundle(bundle)
    return loaded, labelled_images(dataset, VALIDATION, int(loaded.info.input_size))


def perturbed_converter(model, path, export_format, precision, calibration):
    """The real converter, run on a copy of stage 2 whose output bias is shifted: what a
    converter bug that mis-folds one constant would produce."""
    import keras

    if model.output_shape[-1] == 7:
        copy = keras.Model.from_config(model.get_config())
        copy.set_weights(model.get_weights())
        layer = copy.get_layer("class_probabilities")
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, bias + np.linspace(-0.3, 0.3, bias.size, dtype=np.float32)])
        model = copy
    convert_model(model, path, export_format, precision, calibration)


def test_float32_onnx_export_passes_records_its_figures_and_leaves_the_bundle_alone(
        deploy_bundle, deploy_dataset):
    before = bundle_files(deploy_bundle)
    loaded, gate = gate_images(deploy_bundle, deploy_dataset)
    folder = export_bundle(loaded, ExportFormat.ONNX, Precision.FLOAT32, gate, command="test")
    assert folder == deploy_bundle / "exports" / "onnx-float32"
    assert bundle_files(deploy_bundle) == before
    record = json.loads((folder / "export.json").read_text())
    assert record["parity"]["passed"] and record["gate_data"]["images"] == 24
    assert {part["part"] for part in record["parity"]["parts"]} == {"stage1", "stage2", "cascade"}
    assert all(part["max_abs_difference"] <= 1e-4 for part in record["parity"]["parts"])
    assert {"tf2onnx", "onnxruntime"} <= set(record["converters"])
    assert record["stage2"]["source_sha256"] == before["stage2.keras"]
    assert record["speed"]["images"] == 24 and record["speed"]["export_ms_per_image"] > 0
    (usable,), unusable = list_exports(deploy_bundle)
    assert usable.path == folder and unusable == []
    with pytest.raises(ExportError, match="already exported"):
        export_bundle(loaded, ExportFormat.ONNX, Precision.FLOAT32, gate)


def test_perturbed_export_is_refused_with_its_figures_and_never_served(deploy_bundle,
                                                                        deploy_dataset):
    loaded, gate = gate_images(deploy_bundle, deploy_dataset)
    with pytest.raises(ExportRefused) as refused:
        export_bundle(loaded, ExportFormat.ONNX, Precision.FLOAT32, gate,
                      converter=perturbed_converter)
    report = refused.value.report
    stage1, stage2, _ = report.parts
    assert stage1.max_abs_difference <= 1e-4 and stage2.max_abs_difference > 1e-3
    assert [failure.split(":")[0] for failure in report.failures] == ["stage2", "cascade"]
    assert "stage2: 24 images, max |dp|" in str(refused.value)
    assert list((deploy_bundle / "exports").iterdir()) == []  # nothing left, not even staging
    with pytest.raises(ExportError, match="no onnx export has passed its parity gate"):
        serving_stages(deploy_bundle, "onnx")
    assert serving_stages(loaded, "auto").runtime.value == "keras"


def test_cli_export_then_predict_with_the_export_gives_the_keras_labels(deploy_bundle,
                                                                         deploy_dataset, tmp_path,
                                                                         capsys):
    # No --data: the gate reads the validation split of the dataset bundle.json names.
    assert main(["export", "--bundle", str(deploy_bundle), "--format", "litert"]) == 0
    assert "cascade: 24 images, max |dp|" in capsys.readouterr().out
    images = deploy_dataset / "Validation"
    tables = {}
    for runtime in ("keras", "litert", "auto"):
        out = tmp_path / f"{runtime}.csv"
        assert main(["predict", "--bundle", str(deploy_bundle), "--input", str(images),
                     "--out", str(out), "--runtime", runtime, "--batch-size", "5"]) == 0
        tables[runtime] = pd.read_csv(out)
    assert "(litert (litert-float32" in capsys.readouterr().out
    keras_rows = tables["keras"]
    assert keras_rows["stage1_decision"].nunique() == 2  # both decisions are exercised
    for runtime in ("litert", "auto"):
        rows = tables[runtime]
        assert rows["final_label"].tolist() == keras_rows["final_label"].tolist()
        probabilities = [name for name in rows.columns if name.startswith("prob_")]
        assert np.abs(rows[probabilities] - keras_rows[probabilities]).to_numpy().max() <= 1e-4


def test_an_export_file_changed_after_its_gate_is_not_used(deploy_bundle, deploy_dataset,
                                                           tmp_path, capsys):
    loaded, gate = gate_images(deploy_bundle, deploy_dataset)
    folder = export_bundle(loaded, ExportFormat.ONNX, Precision.FLOAT32, gate)
    with open(folder / "stage1.onnx", "ab") as stream:
        stream.write(b"\0")
    usable, ((path, reason),) = list_exports(deploy_bundle)
    assert usable == [] and path == folder and "changed since its parity gate ran" in reason
    assert choose_export(deploy_bundle, "auto") is None
    code = main(["predict", "--bundle", str(deploy_bundle), "--input", str(deploy_dataset),
                 "--out", str(tmp_path / "out.csv"), "--runtime", "onnx"])
    assert code == 2 and "changed since its parity gate ran" in capsys.readouterr().err


def test_export_without_gate_data_names_what_is_missing(deploy_bundle, capsys):
    info = json.loads((deploy_bundle / "bundle.json").read_text())
    info["data"] = {"root": "/nowhere/dataset"}
    (deploy_bundle / "bundle.json").write_text(json.dumps(info))
    assert main(["export", "--bundle", str(deploy_bundle), "--format", "onnx"]) == 2
    error = capsys.readouterr().err
    assert "'/nowhere/dataset', which is not here" in error and "--data" in error
