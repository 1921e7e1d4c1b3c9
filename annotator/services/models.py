"""The project's models: which saved versions it knows and which one of each kind is active."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from annotator.errors import AnnotatorError
from annotator.ml import registry
from annotator.paths import models_dir
from annotator.progress import Say
from annotator.store import Store


def register_and_activate(store: Store, folder: Path, activate: bool = True) -> registry.ModelMeta:
    """Record a saved model version in the project (and make it the active one of its kind)."""
    if activate:
        registry.check_usable(folder)  # a discarded or pruned version has no weights left
    meta = registry.read_meta(folder)
    store.register_model(meta.version, meta.kind, str(folder), asdict(meta))
    if activate:
        store.set_active_model(meta.kind, meta.version)
    return meta


def discard_version(store: Store, folder: Path, reason: str) -> int:
    """A new version that scored lower than the active one: its weights are deleted, its
    meta.json (scores, recipe) kept and marked ``discarded``; returns the bytes freed."""
    freed = registry.strip_weights(folder, "discarded", reason=reason)
    meta = registry.read_meta(folder)
    store.register_model(meta.version, meta.kind, str(folder), asdict(meta))
    return freed


@dataclass
class VersionRow:
    """One line of ``annotator models list``."""

    version: str
    kind: str
    method: str
    metrics: dict
    created: str
    active: bool
    size: int  # bytes on disk
    note: str  # linked, missing, discarded, pruned, …


def version_rows(store: Store) -> list[VersionRow]:
    """The project's versions, with where they are and whether they can still be used (read
    from disk: another project may have pruned a shared models/ folder)."""
    registry_sync(store)
    active = set(store.active_models().values())
    root = models_dir().resolve()
    rows = []
    for m in store.registered_models():
        folder = Path(m["path"])
        meta = dict(m["meta"])
        notes = []
        if (folder / registry.META).is_file():
            try:
                meta = asdict(registry.read_meta(folder))
            except AnnotatorError:
                pass
        gone = registry.retired(registry.ModelMeta.from_dict(meta)) if meta.get("kind") else ""
        if gone:
            notes.append(gone.split(":")[0] + ": weights deleted")
        if not folder.exists():
            notes.append(f"missing: {folder}")
        elif folder.is_symlink() or (meta.get("extra") or {}).get("no_meta"):
            notes.append(f"linked: {folder.resolve()}" if folder.is_symlink() else "a checkpoint without meta.json")
        elif not folder.resolve().is_relative_to(root):
            notes.append(f"outside models/: {folder}")
        extra = meta.get("extra") or {}
        if extra.get("delta"):
            notes.append(f"weights that differ from {extra['delta'].get('base', 'its base')}")
        rows.append(VersionRow(m["version"], m["kind"], str(meta.get("method", "")), dict(meta.get("metrics") or {}),
                               str(meta.get("created_at", ""))[:19], m["version"] in active,
                               registry.folder_bytes(folder), "; ".join(notes)))
    return rows


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
