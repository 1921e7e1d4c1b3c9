"""Where the project keeps its files: the database, the models folder, the bundled data."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_DATA = PACKAGE_DIR / "data"
DEFAULT_DB = "annotator.db"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: os.umask can only be read by setting it, which is racy in a thread.
UMASK = _read_umask()


def share_like_new_files(path: Path) -> None:
    """Give ``path`` (and everything under it) the permissions a file or folder created here
    normally gets: ``tempfile`` makes folders 0700 and files 0600, and safetensors writes
    0600, which would hide a model version or an export from colleagues sharing the folder."""
    path.chmod((0o777 if path.is_dir() else 0o666) & ~UMASK)
    if path.is_dir():
        for sub in path.rglob("*"):
            if not sub.is_symlink():
                sub.chmod((0o777 if sub.is_dir() else 0o666) & ~UMASK)


def project_root() -> Path:
    """The folder that holds ``models/`` and ``corpora/``.

    ``ANNOTATOR_HOME`` overrides it (tests point it at a temporary folder); otherwise the
    source checkout the package lives in, or else the current directory.
    """
    env = os.environ.get("ANNOTATOR_HOME")
    if env:
        return Path(env).resolve()
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").exists():
        return checkout
    return Path.cwd()


def models_dir() -> Path:
    """The model registry folder (``ANNOTATOR_MODELS`` overrides it)."""
    env = os.environ.get("ANNOTATOR_MODELS")
    return Path(env).resolve() if env else project_root() / "models"


def models_not_writable(folder: Path, reason: str) -> str:
    """One line: the models folder cannot be written, and what to do about it."""
    if os.environ.get("ANNOTATOR_MODELS"):
        where = "the folder $ANNOTATOR_MODELS names"
    else:
        where = "the default models folder, in the tool's own folder (the source checkout)"
    return (f"{folder}: cannot write models there ({reason}); it is {where}: set ANNOTATOR_MODELS to a folder "
            "you can write, e.g. `export ANNOTATOR_MODELS=~/annotator-models`")


def check_models_writable() -> None:
    """Fail early, in one line naming ``ANNOTATOR_MODELS``, where the models folder cannot be
    written (a read-only checkout, another user's folder): before minutes of work are lost."""
    import tempfile

    from annotator.errors import AnnotatorError

    folder = models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-").close()  # made, then deleted
    except OSError as exc:
        raise AnnotatorError(models_not_writable(folder, exc.strerror or type(exc).__name__)) from None


def demo_corpus_dir() -> Path:
    return project_root() / "corpora" / "demo"


def keymap_file() -> Path | None:
    """The user's keymap for the annotation screen (binding ids → keys), or ``None``.

    ``ANNOTATOR_KEYMAP`` names it (then it must exist; set but empty: no keymap at all);
    otherwise ``keymap.toml`` in the project folder (:func:`project_root`), if there is one
    (anything of that name: a link to nowhere or a FIFO is then refused with a reason, not
    passed over).
    """
    env = os.environ.get("ANNOTATOR_KEYMAP")
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    default = project_root() / "keymap.toml"
    return default if os.path.lexists(default) else None
