"""Relabel: review likely label errors with Grad-CAM, fix each in a click or a key, undo,
batch-edit."""

import streamlit as st

from sem_core.classes import CLASSES
from sem_core.errors import ImageLoadError
from sem_core.jobs import JobStatus
from sem_core.jobs.review_job import ReviewBusyError
from sem_core.labels import UNKNOWN_CLASS, DecisionSource
from ui import explanations, relabel, shell, state

st.title("Review and relabel")
shell.show_notice()
entry = shell.require_active_bundle()
relabel.init()
dataset = st.session_state.get(state.DATASET)
if not dataset:
    st.info("Choose a labelled dataset on the Home page first: the queue ranks its images.")
    st.stop()

relabel.name_input("relabel_who")
queue = relabel.saved_queue(dataset)
job = relabel.queue_job(dataset)
building = job is not None and not job.status.finished
build_column, about_column = st.columns([1, 3])
if build_column.button("Rebuild the review queue" if queue else "Build the review queue",
                       key="relabel_build", type="secondary" if queue or building else "primary"):
    try:
        handle = relabel.build_queue(dataset, entry.path)
    except ReviewBusyError as error:
        st.error(str(error))
    else:
        state.notify(f"Building the review queue in the background (job {handle.job_id}); it "
                     "goes on if you leave this page.")
        st.rerun()


@st.fragment(run_every=1.0)
def _watch_build(dataset: str, job_id: str, has_queue: bool) -> None:
    current = relabel.queue_job_by_id(dataset, job_id)
    if current is None or current.status.finished:
        st.rerun()  # the whole page shows the new queue or the reason
    progress = relabel.queue_progress(dataset, current)
    counted = f"{progress.batch} of {progress.batches} images embedded" if progress.batches \
        else "preparing"
    st.progress(progress.phase_fraction, text=f"Building the review queue: {counted}")
    st.caption(f"Queue build {job_id} ({current.status.value}): "
               f"{progress.activity or current.message}. "
               + ("A retrain is running too, so this build is slower. " if relabel.retrain_running()
                  else "")
               + ("The previous queue stays in use until the new one is complete." if has_queue
                  else ""))
    st.button("Cancel the queue build", key="relabel_cancel_build",
              on_click=relabel.cancel_queue_build, args=(dataset, current))


if building:
    _watch_build(dataset, job.job_id, queue is not None)
elif job is not None and job.status is not JobStatus.SUCCEEDED:
    st.warning(f"The last queue build ({job.job_id}) {job.status.value}: {job.message}"
               + (" The queue below is the previous one." if queue else ""))
if queue is None:
    about_column.caption("The queue ranks Train and Validation images by how likely their label "
                         "is wrong (cleanlab on cross-validated predictions), plus uncertain "
                         "ones, stage-1 disagreements and images flagged from Inspect or a "
                         "Metrics confusion-matrix cell (flagged held-out Test images too; they "
                         "stay held out).")
    st.stop()
about_column.caption(f"{len(queue)} of {queue.n_images} images up for review, ranked with "
                     f"bundle {queue.bundle} on {queue.created[:16].replace('T', ' ')} UTC. "
                     f"{queue.method}.")

latest = relabel.store(dataset).current()
remaining = relabel.open_items(queue, latest)
done = sum(relabel.decided(item, latest) for item in queue.items)
st.progress(done / max(len(queue), 1), text=f"{done} of {len(queue)} reviewed")


def _decide(item, label, source):
    relabel.decide(dataset, item, label, source, st.session_state.get("relabel_note", ""))
    st.session_state["relabel_note"] = ""
    state.notify(f"{item.path.rsplit('/', 1)[-1]}: {item.given_label} -> {label} (recorded).")


def _undo():
    undone = relabel.undo_last(dataset)
    state.notify("Nothing of yours to undo." if undone is None else
                 f"Undone: {undone.path.rsplit('/', 1)[-1]} is {undone.new_label} again.")


if not remaining:
    st.success("Nothing left to review in this queue.")
    st.button("Show skipped images again", key="relabel_unskip", on_click=relabel.unskip_all)
else:
    item = remaining[0]
    try:
        pixels = relabel.image_pixels(item)
        views = explanations.explain_stages(entry.path, state.bundle_key(entry), pixels,
                                            item.sha256, cache=st.session_state[state.HEATMAPS])
        image_column, first_column, second_column = st.columns(3)
        image_column.image(explanations.display_image(pixels, 384), caption=item.path)
        for column, view in ((first_column, views[0]), (second_column, views[1])):
            column.image(view.overlay, caption=f"Stage {view.stage} Grad-CAM: {view.class_name}")
    except ImageLoadError as error:
        st.error(f"{item.path}: {error.detail}")
    reasons = ", ".join(reason.value.replace("_", " ") for reason in item.reasons)
    st.markdown(f"**Given:** {item.given_label} &nbsp; **Suggested:** {item.suggested_label} "
                f"({item.suggested_probability:.0%} out of sample) &nbsp; **Suspicion:** "
                f"{item.score:.2f} &nbsp; **Why:** {reasons}")
    if held_out := relabel.held_out_note(item):
        st.caption(held_out)
    st.text_input("Note (optional, saved with the decision)", key="relabel_note")
    accept, keep, skip, unknown = st.columns(4)
    accept.button(f"Accept: {item.suggested_label}", key="relabel_accept", shortcut="a",
                  type="primary", on_click=_decide,
                  disabled=item.suggested_label == item.given_label,
                  args=(item, item.suggested_label, DecisionSource.ACCEPTED_SUGGESTION))
    keep.button(f"Keep: {item.given_label}", key="relabel_keep", shortcut="k", on_click=_decide,
                args=(item, item.given_label, DecisionSource.MANUAL))
    skip.button("Skip", key="relabel_skip", shortcut="s", on_click=relabel.skip, args=(item,))
    unknown.button("Unknown / new class", key="relabel_unknown", shortcut="u", on_click=_decide,
                   args=(item, UNKNOWN_CLASS, DecisionSource.FLAG))
    st.caption("Or choose the class (keys 1-8):")
    for number, (column, name) in enumerate(zip(st.columns(len(CLASSES)), CLASSES), start=1):
        column.button(f"{number} {name}", key=f"relabel_class_{name}", shortcut=str(number),
                      on_click=_decide, args=(item, name, DecisionSource.MANUAL))

st.button("Undo my last decision", key="relabel_undo", shortcut="z", on_click=_undo)

with st.expander("Batch edit the next items"):
    batch = remaining[:50]
    edited = st.data_editor(
        relabel.batch_frame(batch), key="relabel_batch", hide_index=True, width="stretch",
        disabled=["file", "given", "suggested", "score"],
        column_config={"new_label": st.column_config.SelectboxColumn(
            "new label", options=relabel.label_options(), help="empty: no change")})
    if st.button("Apply these labels", key="relabel_apply_batch", disabled=not batch):
        count = relabel.apply_batch(dataset, batch, edited)
        del st.session_state["relabel_batch"]  # its row edits would land on the next items
        state.notify(f"Recorded {count} decisions in one transaction.")
        st.rerun()

st.subheader("Latest decisions")
decisions = relabel.recent_decisions(dataset)
if decisions.empty:
    st.caption(f"None yet. Every decision is kept in {relabel.label_db_path(dataset)}.")
else:
    st.dataframe(decisions, hide_index=True, width="stretch")
