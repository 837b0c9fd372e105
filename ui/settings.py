"""Where the app keeps things: the data root, the two model-bundle roots and its own state file.

Every location comes from an environment variable with a default relative to the working
directory, read at call time (so tests and benchmarks can point the app elsewhere):

* ``SEM_DATA_ROOT`` (default ``./data``): the only server-side folder the app reads image folders
  from and writes demo data and uploaded datasets to.
* ``SEM_DEFAULT_BUNDLE`` (default ``models/default`` in the repository): the shipped bundle; its
  parent folder is the read-only *shipped* registry root.
* ``SEM_MODELS_DIR`` (default ``./runs/models``): the *user* registry root (git-ignored), where
  new bundles go and the only place the app ever deletes a bundle from.
* ``SEM_APP_DIR`` (default ``./runs/app``): the app's remembered choices (``state.json``) and
  each session's uploaded files (``uploads/<session>``, removed when the session ends).

No Streamlit here; ``resolve_inside`` is the one check that keeps user-chosen paths under a root.
"""

from __future__ import annotations

import os
from pathlib import Path

# Same variable and default as sem_core.models.weights.default_bundle_dir, read here without
# importing that module, which loads Keras: the first page must not wait for TensorFlow.
DEFAULT_BUNDLE_ENV = "SEM_DEFAULT_BUNDLE"
REPOSITORY = Path(__file__).resolve().parents[1]
DATA_ROOT_ENV = "SEM_DATA_ROOT"
MODELS_DIR_ENV = "SEM_MODELS_DIR"
APP_DIR_ENV = "SEM_APP_DIR"


def data_root() -> Path:
    """The server-side data root, absolute (it may not exist yet)."""
    return Path(os.environ.get(DATA_ROOT_ENV) or "data").expanduser().resolve()


def user_models_dir() -> Path:
    """The user bundle root, absolute (it may not exist yet)."""
    return Path(os.environ.get(MODELS_DIR_ENV) or Path("runs") / "models").expanduser().resolve()


def shipped_default_bundle() -> Path:
    """The shipped default bundle folder, absolute (it may not exist yet)."""
    override = os.environ.get(DEFAULT_BUNDLE_ENV)
    folder = Path(override) if override else REPOSITORY / "models" / "default"
    return folder.expanduser().resolve()


def shipped_models_dir() -> Path:
    """The shipped bundle root: the default bundle's parent folder."""
    return shipped_default_bundle().parent


def app_dir() -> Path:
    """The app's own folder, absolute (it may not exist yet)."""
    return Path(os.environ.get(APP_DIR_ENV) or Path("runs") / "app").expanduser().resolve()


def state_file() -> Path:
    """The JSON file holding the app's remembered choices."""
    return app_dir() / "state.json"


def uploads_root() -> Path:
    """Where each session's uploaded files are held while it inspects them."""
    return app_dir() / "uploads"


class OutsideRootError(ValueError):
    """A chosen path lies outside the folder it must stay in."""


def resolve_inside(root: Path, relative: str | os.PathLike) -> Path:
    """Resolve ``relative`` against ``root`` and refuse anything that escapes it.

    Symbolic links are followed before the check, so a link pointing out of the root is refused
    just like ``../``.

    Args:
        root: The folder the result must stay in.
        relative: A path relative to ``root`` (an absolute path is accepted only if it is inside).

    Returns:
        The resolved absolute path.

    Raises:
        OutsideRootError: When the resolved path is not ``root`` or below it.
    """
    base = Path(root).resolve()
    candidate = (base / relative).resolve()
    if candidate != base and base not in candidate.parents:
        raise OutsideRootError(f"{relative}: resolves outside {base}; only paths inside it "
                               "are allowed.")
    return candidate
