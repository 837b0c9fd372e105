"""The detail view of one image: the image, Grad-CAM of both stages side by side, probabilities.

Used by the Inspect page (for an inspected file) and the Metrics page (for an image behind a
confusion-matrix cell). Widget keys start with the calling page's prefix.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import streamlit as st

from sem_core.classes import CLASSES, STAGE2_CLASSES
from sem_core.data.image_io import SemImage
from sem_core.explain import DEFAULT_CAM_METHOD, CamMethod, Colormap
from ui import bundles, figures, state
from ui.explanations import METHOD_LABELS, display_image, explain_stages

TOP_CLASS = "Top class"
DISPLAY_PX = 512


def _controls(prefix: str) -> tuple[CamMethod, float, Colormap, str | None]:
    method_column, alpha_column, colormap_column, class_column = st.columns(4)
    method = method_column.selectbox("Explanation", list(CamMethod), key=f"{prefix}_cam_method",
                                     index=list(CamMethod).index(DEFAULT_CAM_METHOD),
                                     format_func=METHOD_LABELS.get)
    alpha = alpha_column.slider("Heat-map opacity", 0.0, 1.0, 0.45, 0.05, key=f"{prefix}_cam_alpha")
    colormap = colormap_column.selectbox("Colours", list(Colormap), key=f"{prefix}_cam_colormap",
                                         format_func=lambda member: member.value)
    chosen = class_column.selectbox("Stage-2 class explained", [TOP_CLASS, *STAGE2_CLASSES],
                                    key=f"{prefix}_cam_class")
    return method, alpha, colormap, None if chosen == TOP_CLASS else chosen


def overlays(entry: bundles.CatalogEntry, image: SemImage, image_key: str, row: Mapping,
             prefix: str) -> None:
    """Method/opacity/colour controls, then the image and both stages' overlays side by side."""
    method, alpha, colormap, stage2_class = _controls(prefix)
    try:
        with st.spinner("Computing Grad-CAM..."):
            first, second = explain_stages(
                entry.path, state.bundle_key(entry), image.pixels, image_key, method=method,
                stage2_class=stage2_class, alpha=alpha, colormap=colormap,
                cache=st.session_state[state.HEATMAPS])
    except (ValueError, RuntimeError) as error:
        st.error(f"{image.meta.source}: no explanation ({error}).")
        return
    original, stage1, stage2 = st.columns(3)
    original.image(display_image(image.pixels, DISPLAY_PX), caption="Image", width="stretch")
    stage1.image(_shrink(first.overlay), width="stretch",
                 caption=f"Stage 1 {METHOD_LABELS[method]}: evidence for Defective "
                         f"(p = {first.heatmap.probability:.3f})")
    ran = row.get("stage1_decision") == "Defective"
    note = "" if ran else "; stage 2 did not run in the cascade (stage 1 said Clean)"
    stage2.image(_shrink(second.overlay), width="stretch",
                 caption=f"Stage 2 {METHOD_LABELS[method]}: {second.class_name} "
                         f"(p = {second.heatmap.probability:.3f}){note}")


def _shrink(picture: np.ndarray) -> np.ndarray:
    from PIL import Image

    if max(picture.shape[:2]) <= DISPLAY_PX:
        return picture
    shrunk = Image.fromarray(picture)
    shrunk.thumbnail((DISPLAY_PX, DISPLAY_PX), Image.Resampling.BOX)
    return np.asarray(shrunk)


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def probabilities(row: Mapping, prefix: str) -> None:
    """The final 8-class probabilities, and stage 2's own when it ran, as bar charts."""
    final = [_number(row.get(f"prob_{name}")) for name in CLASSES]
    left, right = st.columns(2)
    if all(value is not None for value in final):
        left.plotly_chart(figures.probability_figure(CLASSES, final, row.get("final_label"),
                                                     "Final class probabilities"),
                          key=f"{prefix}_final_probabilities")
        left.caption(threshold_note(row, final))
    stage2 = [_number(row.get(f"p_{name}")) for name in STAGE2_CLASSES]
    if all(value is not None for value in stage2):
        figure = figures.probability_figure(STAGE2_CLASSES, stage2, row.get("final_label"),
                                            "Stage-2 probabilities")
        right.plotly_chart(figure,
                           key=f"{prefix}_stage2_probabilities")
    else:
        right.caption("Stage 2 did not run for this image: stage 1 scored it below the threshold.")


def threshold_note(row: Mapping, final: list[float]) -> str:
    """Why the label can differ from the longest bar: the stage-1 threshold decides Clean."""
    note = ("Clean is 1 - P(defective); each defect class is P(defective) x its stage-2 share. "
            "The label follows the stage-1 threshold, not the longest bar")
    label, top = row.get("final_label"), CLASSES[int(np.argmax(final))]
    if label in CLASSES and label != top:
        return f"{note}: here the label is {label} although {top} is the longest bar."
    return f"{note}."


def metadata(image: SemImage, row: Mapping, sha256: str) -> None:
    """File facts and timings."""
    meta = image.meta
    facts = {"file": meta.source, "format": meta.format, "mode": meta.mode,
             "bit depth": meta.bit_depth, "size": f"{meta.width} x {meta.height} px",
             "frames": meta.frame_count, "loader notes": "; ".join(meta.notes) or "none",
             "sha256": sha256,
             "stage-1 probability": _number(row.get("stage1_probability")),
             "confidence": _number(row.get("confidence")),
             "needs review": bool(row.get("needs_review")),
             **{str(key).removesuffix("_ms").replace("stage", "stage ") + " time":
                f"{float(value):.1f} ms" for key, value in row.items()
                if str(key).endswith("_ms") and _number(value) is not None}}
    st.table(pd.DataFrame({"value": [_text(value) for value in facts.values()]},
                          index=list(facts)))


def _text(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def headline(row: Mapping) -> None:
    """Final label, confidence, review flag and (for a demo image) the true class in one line."""
    confidence = _number(row.get("confidence"))
    flag = " - needs review" if row.get("needs_review") else ""
    label = row.get("final_label")
    text = f"**{row.get('source')}**: {label if isinstance(label, str) else 'unreadable'}"
    if confidence is not None:
        text += f" (confidence {confidence:.3f}){flag}"
    truth = row.get("true_label")
    if isinstance(truth, str):
        text += f"; true class **{truth}**" + (" (correct)" if truth == label else " (wrong)")
    st.markdown(text)
