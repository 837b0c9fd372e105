"""Models: the bundle registry, model cards, side-by-side comparison, and the active bundle."""

import streamlit as st

from ui import bundles, models_view, shell, state

st.title("Models")
shell.show_notice()
entries = state.catalog()
active = state.active_entry(entries)
broken = bundles.list_broken()
if broken:
    st.warning(f"{len(broken)} bundle folder{'s' * (len(broken) != 1)} cannot be used (broken); "
               "each reason names the file.")
    for entry in broken:
        st.markdown(f"**{entry.path.name}** ({entry.origin.value}, broken)")
        st.code(entry.reason, language=None, wrap_lines=True)
if not entries:
    st.info("No model bundle found yet; see the sidebar for where bundles are looked for.")
    st.stop()

st.dataframe(bundles.catalog_frame(entries, active), hide_index=True, width="stretch")
st.caption("Shipped bundles are read-only; new bundles go to the user folder. Figures are "
           "validation figures recorded at training.")

labels = [entry.label for entry in entries]
chosen_label = st.selectbox("Bundle", labels, key="models_bundle",
                            index=labels.index(active.label) if active else 0)
chosen = entries[labels.index(chosen_label)]
is_active = active is not None and chosen.path == active.path
st.button("Active" if is_active else f"Make {chosen.name} the active bundle", key="models_activate",
          disabled=is_active, on_click=models_view.activate, args=(chosen,), type="primary")
models_view.bundle_details(chosen)

st.subheader("Compare two bundles")
if len(entries) < 2:
    st.caption("Only one bundle is available.")
else:
    first_column, second_column = st.columns(2)
    first = first_column.selectbox("First", entries, key="models_compare_first",
                                   format_func=lambda entry: entry.label)
    second = second_column.selectbox("Second", entries, index=1, key="models_compare_second",
                                     format_func=lambda entry: entry.label)
    if first.path == second.path:
        st.caption("Choose two different bundles.")
    else:
        models_view.compare(first, second)

with st.expander("Delete a bundle"):
    models_view.delete_section(entries, active)
