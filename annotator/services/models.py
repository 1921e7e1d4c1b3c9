"""The project's models: which saved versions it knows and which one of each kind is active."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from annotator.errors import AnnotatorError, ModelNotFoundError
from annotator.ml import registry
from annotator.model_kinds import ENCODER, FRAMES, SPANS, SPEECH_FRAMES
from annotator.paths import models_dir
from annotator.progress import Say
from annotator.schemes import Scheme, get_scheme
from annotator.store import Store


def active_scheme(store: Store) -> Scheme:
    """The label scheme of the project's active frames version (the one the report's frame and
    speech figures use), else the default scheme: none active, or its scheme not found here."""
    entry = store.registered_model(store.active_models().get(FRAMES))
    try:
        return get_scheme((entry["meta"].get("scheme") if entry is not None else None) or None)
    except Exception:
        return get_scheme()


def register_and_activate(store: Store, folder: Path, activate: bool = True) -> registry.ModelMeta:
    """Record a saved model version in the project (and make it the active one of its kind).

    A version to activate is checked first, in one line each: its weights not deleted, and
    neither it nor the encoder it reads brings code of its own or pickled weights (as
    ``annotator models use`` says at once, rather than the first load)."""
    if activate:
        registry.check_usable(folder)  # a discarded or pruned version has no weights left
        registry.check_model_files(folder)
    meta = registry.read_meta(folder)
    if activate and meta.kind in (FRAMES, SPANS) and meta.base:
        try:
            registry.check_model_files(registry.find_encoder(meta, folder, None))
        except ModelNotFoundError:
            pass  # not on this machine: the version says so when it loads
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
            except AnnotatorError as exc:  # the registry's copy stands in, and the row says why
                notes.append(f"meta.json unreadable ({exc}); as registered")
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


@dataclass
class PruneItem:
    """One thing ``annotator models prune`` would remove."""

    path: Path
    what: str  # "weights of frames-… (frames, finetune)", "engine conversion of a removed encoder", …
    size: int  # bytes
    strip: bool  # a version: delete its weights, keep its meta.json (marked pruned); else remove the folder


STAGING_AGE_S = 3600  # a staging folder older than this is a crash's leftover, not a conversion under way


def prune_plan(store: Store, keep_for: Sequence[Store] = ()) -> tuple[list[PruneItem], list[str]]:
    """What ``annotator models prune`` removes, and what it keeps on purpose.

    Removed: the weights of every version that is not active in this project (nor in the
    ``keep_for`` projects sharing the models folder) and that no active version reads (a
    speech frames version reads its segment frames version); engine conversions of encoders no
    longer on disk (or whose weights changed since); staging folders a crash left behind.
    Kept always: active versions and what they read, every encoder (the default one, bases of
    fine-tuned deltas, linked folders), and the engine conversions of the encoders there are.
    A pruned version keeps its meta.json (its scores stay in ``models list`` and the report)."""
    import time

    from annotator.ml.engine import converted_dir
    from annotator.ml.token_states import default_layer

    active: dict[str, str] = {}
    for project in (store, *keep_for):
        active.update({v: k for k, v in project.active_models().items()})
    versions = registry.list_versions()
    by_name = {meta.version: (folder, meta) for folder, meta in versions}
    needed = set(active)
    for name in list(needed):  # what the active versions read
        folder, meta = by_name.get(name, (None, None))
        if meta is not None and meta.kind == SPEECH_FRAMES and meta.base:
            found = registry.find_reference(meta.base, None)
            if found is not None:
                needed.add(registry.read_meta(found).version if (found / registry.META).is_file() else found.name)
    items: list[PruneItem] = []
    for folder, meta in versions:
        if meta.kind == ENCODER or meta.version in needed or folder.is_symlink() or meta.extra.get("no_meta"):
            continue
        if registry.retired(meta):
            continue  # only its meta.json is left
        size = registry.folder_bytes(folder)
        items.append(PruneItem(folder, f"weights of {meta.version} ({meta.kind}, {meta.method})", size, strip=True))
    encoders = [folder for folder, meta in versions if meta.kind == ENCODER and folder.is_dir()]
    for name in needed:  # an active version's encoder outside models/ (--base, the Hugging Face cache)
        folder, meta = by_name.get(name, (None, None))
        if meta is not None and meta.kind in (FRAMES, SPANS):
            try:
                encoders.append(registry.find_encoder(meta, folder, None))
            except ModelNotFoundError:
                continue
    in_use: set[Path] = set()
    for encoder in encoders:
        try:
            in_use |= {converted_dir(encoder, None).parent, converted_dir(encoder, default_layer(encoder)).parent}
        except (OSError, ValueError):
            continue
    engine_root = models_dir() / "engine"
    if engine_root.is_dir():
        for folder in sorted(engine_root.iterdir()):
            if folder.is_dir() and not folder.is_symlink() and folder not in in_use:
                items.append(PruneItem(folder, "engine conversions of an encoder no longer here (or since changed)",
                                       registry.folder_bytes(folder), strip=False))
    now = time.time()
    for staging in sorted(models_dir().glob("*/.staging-*")) + sorted(models_dir().glob("*/*/.staging-*")):
        if staging.is_dir() and now - staging.stat().st_mtime > STAGING_AGE_S:
            items.append(PruneItem(staging, "a half-written folder a crash left behind", registry.folder_bytes(staging),
                                   strip=False))
    kept = [f"active: {', '.join(sorted(needed)) or 'none'}", f"encoders: {len(encoders)}",
            f"engine conversions in use: {len([p for p in in_use if p.is_dir()])}"]
    return items, kept


def prune(store: Store, items: Sequence[PruneItem]) -> int:
    """Carry out :func:`prune_plan`'s items; returns the bytes freed."""
    import shutil

    freed = 0
    known = {m["version"] for m in store.registered_models()}
    for item in items:
        if item.strip:
            freed += registry.strip_weights(item.path, "pruned", reason="pruned by `annotator models prune`")
            meta = registry.read_meta(item.path)
            if meta.version in known:
                store.register_model(meta.version, meta.kind, str(item.path), asdict(meta))
        elif item.path.exists():
            freed += registry.folder_bytes(item.path)
            shutil.rmtree(item.path)
    return freed


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
