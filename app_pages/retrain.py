"""Retrain: one click retrains on the corrected labels in the background; compare, then promote
or roll back. Without any bundle yet, the same job trains a first one (from random or ImageNet
weights)."""

import streamlit as st

from sem_core.errors import SemCoreError
from sem_core.jobs import JobStatus, RetrainBusyError
from ui import relabel, retrain, shell, state
from ui.fewshot_view import fewshot_expander


def _start(launch) -> None:
    """Start a job with ``launch()``; say so, or why not (one job at a time)."""
    try:
        handle = launch()
    except RetrainBusyError as error:
        st.error(str(error))
        return
    state.notify(f"Started job {handle.job_id}; it runs on even if you close this page.")
    st.rerun()


st.title("Retrain, compare, promote")
shell.show_notice()
fewshot_expander()
entry = state.active_entry()
dataset = st.session_state.get(state.DATASET)
if not dataset:
    st.info("Choose a labelled dataset on the Home page first.")
    st.stop()

relabel.init()
relabel.name_input("retrain_who")
try:
    corrected = retrain.corrections(dataset)
except SemCoreError as error:
    st.error(f"{dataset}: the dataset cannot be read ({error}).")
    st.stop()
st.caption(f"Dataset {dataset}: {len(corrected.manifest)} images, {len(corrected.relabelled)} "
           f"relabelled, {len(corrected.unknown)} flagged unknown (left out). Corrected version "
           f"{corrected.version[:12]}. Base bundle: {entry.name if entry else 'none yet'}.")

job = retrain.latest_job(dataset)
running = job is not None and not job.status.finished
if entry is None:
    st.info("There is no model bundle yet. Train a first one on this dataset: it runs in the "
            "background, and the bundle becomes the active one when it is written. Starting "
            "from ImageNet weights usually learns far more from a small dataset; EfficientNet-Lite "
            "has them offline. The probe recipe shows in about a minute what the data supports.")
    with st.form("retrain_first_form"):
        size_column, backbone_column, epochs_column, stage1_column = st.columns([1, 2, 1, 1])
        size = size_column.selectbox("Input size (px)", retrain.FIRST_MODEL_SIZES, index=1,
                                     key="retrain_first_size")
        backbone = backbone_column.selectbox("Backbone", retrain.backbone_choices(),
                                             key="retrain_first_backbone")
        epochs = epochs_column.number_input("Stage-2 epochs", 1, 200, 20, key="retrain_epochs")
        stage1_epochs = stage1_column.number_input("Stage-1 epochs", 0, 200, 15,
                                                   key="retrain_stage1_epochs")
        start_column, recipe_column, stage1_backbone_column = st.columns(3)
        start = start_column.radio("The model starts from", list(retrain.FIRST_MODEL_STARTS),
                                   key="retrain_first_weights")
        recipe = recipe_column.radio("Recipe", list(retrain.FIRST_MODEL_RECIPES),
                                     key="retrain_first_recipe")
        screener = stage1_backbone_column.radio("Stage 1", list(retrain.FIRST_MODEL_STAGE1),
                                                key="retrain_first_stage1")
        first = st.form_submit_button("Train a first model", type="primary", disabled=running)
    if first:
        try:
            _start(lambda: retrain.start_first(dataset, int(size), backbone, int(epochs),
                                               int(stage1_epochs),
                                               retrain.FIRST_MODEL_STARTS[start],
                                               retrain.FIRST_MODEL_RECIPES[recipe],
                                               retrain.FIRST_MODEL_STAGE1[screener]))
        except (SemCoreError, ValueError) as error:  # weights unavailable, or probe from random
            st.error(str(error))
else:
    with st.form("retrain_form"):
        mode_column, epochs_column, stage1_column = st.columns([2, 1, 1])
        epochs, stage1_epochs = retrain.default_epochs(entry)
        mode = mode_column.radio("Start from", list(retrain.MODES), key="retrain_mode")
        schedule = ("A fine-tune continues from the active bundle's weights, so it gets half "
                    "the epochs that bundle was trained with; from scratch, give it the whole "
                    "schedule.")
        epochs = epochs_column.number_input("Stage-2 epochs", 1, 200, epochs,
                                            key="retrain_epochs", help=schedule)
        stage1_epochs = stage1_column.number_input("Stage-1 epochs", 0, 200, stage1_epochs,
                                                   key="retrain_stage1_epochs", help=schedule)
        started = st.form_submit_button("Retrain on the corrected labels", type="primary",
                                        disabled=running)
    if started:
        _start(lambda: retrain.start(dataset, entry, retrain.MODES[mode], int(epochs),
                                     int(stage1_epochs)))

if job is None:
    st.caption("No retrain job yet.")
    st.stop()


@st.fragment(run_every=1.0)
def _watch(job_id: str) -> None:
    current = retrain.job_by_id(job_id)
    if current is None:
        st.warning(f"Job {job_id}: its folder is gone.")
        return
    if current.status.finished:
        st.rerun()  # the whole page shows the result
    progress = retrain.progress(current)
    where = (f"{progress.stage} {progress.phase}, epoch {progress.epoch}/{progress.epochs}, "
             f"batch {progress.batch}/{progress.batches}" if progress.stage else "preparing")
    st.progress(progress.phase_fraction, text=where)
    st.caption(f"Job {job_id} ({current.status.value}): {progress.activity or current.message} "
               f"- last update {retrain.seconds_since_update(current):.0f} s ago")
    curves = progress.curves()
    if len(curves):
        st.line_chart(curves[["loss", "val_loss"]].reset_index(drop=True))
    st.button("Cancel the job", key="retrain_cancel", on_click=retrain.cancel, args=(current,))


st.subheader("Job")
if running:
    _watch(job.job_id)
    st.stop()

job = retrain.job_by_id(job.job_id) or job
if entry is None and job.status == JobStatus.SUCCEEDED and retrain.is_active(job.bundle):
    st.rerun()  # the first bundle was written after the sidebar and form above were drawn
message = f"Job {job.job_id}: {job.status.value}. {job.message}"
if job.status == JobStatus.SUCCEEDED:
    st.success(message)
else:
    st.warning(message)
result = retrain.comparison(job)
if result is None and job.status == JobStatus.SUCCEEDED and job.bundle:
    st.caption("A first model: there was no bundle to compare it with. "
               + ("It is the active bundle now." if retrain.is_active(job.bundle) else
                  "Make it active on the Models page."))
if result is not None:
    st.subheader("Old versus new on the held-out split")
    st.caption(f"{result.new.n_images} held-out images (pinned before relabelling, split "
               f"{result.heldout_digest[:12]}); {len(result.relabelled)} relabelled held-out "
               "images are scored apart below.")
    st.dataframe(retrain.headline_frame(result), hide_index=True)
    st.dataframe(result.class_deltas().round(3), hide_index=True, width="stretch")
    st.markdown(f"**{len(result.changed)} predictions changed**")
    image_column = {"image": st.column_config.ImageColumn("image", width="small")}
    if result.changed:
        st.dataframe(retrain.changes_frame(result.changed), hide_index=True,
                     column_config=image_column, width="stretch")
    if result.relabelled:
        st.markdown("**Relabelled held-out images**")
        st.dataframe(retrain.changes_frame(result.relabelled), hide_index=True,
                     column_config=image_column, width="stretch")
    promoted = retrain.is_active(job.bundle)
    concerns = [] if promoted else retrain.promotion_concerns(result)
    if concerns:
        st.warning("The new bundle is worse than the active one on the held-out images: "
                   + "; ".join(concerns) + ". Promote it only if you know why.")
    note = st.text_input("Why promote (recorded)", key="retrain_note")
    label = "Active" if promoted else ("Promote anyway" if concerns else "Promote the new bundle")
    if st.button(label, key="retrain_promote", type="secondary" if concerns else "primary",
                 disabled=promoted):
        record = retrain.promote_job(job, result, note)
        state.notify(f"{record.bundle.rsplit('/', 1)[-1]} is now the active bundle (logged).")
        st.rerun()

with st.expander("Roll back to an earlier bundle"):
    choices = retrain.rollback_choices()
    if not choices:
        st.caption("No earlier active bundle yet.")
    else:
        target = st.selectbox("Bundle", choices, key="retrain_rollback_choice",
                              format_func=lambda item: item.label)
        reason = st.text_input("Why roll back (recorded)", key="retrain_rollback_note")
        if st.button("Roll back", key="retrain_rollback"):
            retrain.rollback_to(target, reason)
            state.notify(f"Rolled back: {target.name} is the active bundle again (logged).")
            st.rerun()
    log = retrain.log_frame()
    if not log.empty:
        st.dataframe(log, hide_index=True, width="stretch")
