"""The project's models: which saved versions it knows and which one of each kind is active."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from annotator.ml import registry
from annotator.progress import Say
from annotator.store import Store


def register_and_activate(store: Store, folder: Path, activate: bool = True) -> registry.ModelMeta:
    """Record a saved model version in the project (and make it the active one of its kind)."""
    meta = registry.read_meta(folder)
    store.register_model(meta.version, meta.kind, str(folder), asdict(meta))
    if activate:
        store.set_active_model(meta.kind, meta.version)
    return meta


def registry_sync(store: Store) -> int:
    """Register every saved version under models/ that this project does not know yet."""
    known = {m["version"] for m in store.registered_models()}
    added = 0
    for folder, meta in registry.list_versions():
        if meta.version not in known:
            store.register_model(meta.version, meta.kind, str(folder), asdict(meta))
            added += 1
    return added


def prepare_translation_engine(store: Store, folder: Path, say: Say | None = None, target: str = "en") -> str:
    """Convert a translation version for the inference engine now, checked against PyTorch on
    a few of the project's own segments (four per language); one line on the outcome."""
    from annotator.ml.translate import prepare_engine

    texts = [(s.language, s.text) for s in store.segments_per_language(4, except_language=target)]
    return prepare_engine(folder, texts or None, say)
