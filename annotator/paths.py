"""Where the project keeps its files: the database, the models folder, the bundled data."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_DATA = PACKAGE_DIR / "data"
DEFAULT_DB = "annotator.db"


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


def demo_corpus_dir() -> Path:
    return project_root() / "corpora" / "demo"
