"""Shared fixtures: every test runs offline, with its own project folder and database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Exact float32 inference in tests (batch = one-by-one to 1e-4); bf16 is tested on its own.
os.environ.setdefault("ANNOTATOR_BF16", "0")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_models(tmp_path_factory, monkeypatch):
    """Never touch the checkout's models/ folder from a test."""
    models = tmp_path_factory.mktemp("models")
    monkeypatch.setenv("ANNOTATOR_MODELS", str(models))
    monkeypatch.delenv("ANNOTATOR_DB", raising=False)
    monkeypatch.setenv("ANNOTATOR_KEYMAP", "")  # a developer's own keymap.toml never reaches a test
    yield models


@pytest.fixture
def store():
    from annotator.store import Store

    s = Store.in_memory()
    yield s
    s.close()


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "project.db"


@pytest.fixture(autouse=True)
def _engine_as_configured(monkeypatch):
    """A test that chooses the inference engine (``set_engine``) chooses it for itself only."""
    from annotator.ml import engine

    monkeypatch.delenv("ANNOTATOR_ENGINE", raising=False)
    monkeypatch.setattr(engine, "_setting", None)
    engine.notes()
    monkeypatch.setattr(engine, "_reporter", None)
    yield
    engine.notes()  # what one test's fallbacks said is not the next one's
