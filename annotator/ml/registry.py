"""The model registry: saved model versions as folders under ``models/``.

Layout (see ``models/README.md``)::

    models/<kind>/<version>/
        meta.json            what this version is (kind, base, scheme, hashes, metrics, …)
        model.safetensors    weights (never pickles)
        config.json, tokenizer files …

``kind`` is one of ``encoder`` (the base encoder), ``frames``, ``spans``, ``translation``,
``speech_frames`` (frames for a speech as a whole).
The version name is ``<kind>-<UTC timestamp>`` unless given. Which version is *active* per kind
is recorded in the database (``store``), not here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError, DiskFull, ModelNotFoundError, UnsafeModelError, shown
from annotator.model_kinds import ENCODER, KINDS, TRANSLATION
from annotator.paths import models_dir, models_not_writable, share_like_new_files

META = "meta.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# The files in which a Hugging Face folder names code of its own for the Auto classes (``auto_map``).
CODE_CONFIGS = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json",
                "feature_extractor_config.json", "image_processor_config.json")


@dataclass
class ModelMeta:
    kind: str
    version: str
    base: str = ""
    method: str = ""  # e.g. "finetune", "knn", "converted", "glossary"
    scheme: str = ""
    scheme_hash: str = ""
    labels: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    data_hash: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelMeta":
        known = {f for f in cls.__dataclass_fields__}
        extra = dict(data.get("extra", {}))
        extra.update({k: v for k, v in data.items() if k not in known})
        return cls(**{k: v for k, v in data.items() if k in known and k != "extra"}, extra=extra)


def now_stamp() -> str:
    """UTC time to the millisecond: two versions saved within one second still get two names."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]


def new_version_name(kind: str) -> str:
    return f"{kind}-{now_stamp()}"


def version_dir(kind: str, version: str, root: Path | None = None) -> Path:
    return (root or models_dir()) / kind / version


def read_meta(folder: Path) -> ModelMeta:
    path = Path(folder) / META
    try:
        return ModelMeta.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path}: no meta.json; this folder is not a saved model version") from None
    except (json.JSONDecodeError, TypeError) as exc:
        raise AnnotatorError(f"{path}: unreadable meta.json ({exc})") from None


def write_meta(folder: Path, meta: ModelMeta) -> None:
    if not meta.created_at:
        meta.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = json.dumps(asdict(meta), ensure_ascii=False, indent=2, sort_keys=True)
    tmp = Path(folder) / (META + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(Path(folder) / META)


def add_meta_extra(folder: Path, **extra: Any) -> ModelMeta:
    """Record more about a saved version in its meta.json (replaced atomically)."""
    meta = read_meta(folder)
    meta.extra.update(extra)
    write_meta(folder, meta)
    return meta


LINKABLE_KINDS = (ENCODER, TRANSLATION)  # kinds whose plain checkpoints count as versions


def placed_checkpoint(folder: Path, kind: str) -> ModelMeta | None:
    """A checkpoint placed under ``models/<kind>/`` without a meta.json (linked there, or copied
    from the Hugging Face cache) described from what it is, so that it is a version too:
    ``models list`` shows it and ``--base <name>`` finds it. None for anything else."""
    if kind not in LINKABLE_KINDS or folder.name.startswith(".") or not folder.is_dir():
        return None
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        return None
    stamp = datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    return ModelMeta(kind=kind, version=folder.name, base=str(folder.resolve()),
                     method="linked" if folder.is_symlink() else "checkpoint", created_at=stamp,
                     extra={"no_meta": True})


def list_versions(kind: str | None = None, root: Path | None = None) -> list[tuple[Path, ModelMeta]]:
    """Every saved version (optionally of one kind), oldest first: folders with a meta.json
    (symbolic links to them included), and plain encoder or translation checkpoints placed
    under ``models/`` (:func:`placed_checkpoint`)."""
    base = root or models_dir()
    kinds = [kind] if kind else list(KINDS)
    found: list[tuple[Path, ModelMeta]] = []
    for k in kinds:
        kdir = base / k
        if not kdir.is_dir():
            continue
        for folder in sorted(kdir.iterdir()):
            if (folder / META).is_file():
                try:
                    found.append((folder, read_meta(folder)))
                except AnnotatorError:
                    continue
            elif (placed := placed_checkpoint(folder, k)) is not None:
                found.append((folder, placed))
    found.sort(key=lambda item: (item[1].kind, item[1].created_at, item[1].version))
    return found


def find_version(version: str, root: Path | None = None) -> tuple[Path, ModelMeta]:
    for folder, meta in list_versions(root=root):
        if meta.version == version or folder.name == version:
            return folder, meta
    for kind in KINDS:  # a folder of that name that is no version: say why, if it is refused
        candidate = (root or models_dir()) / kind / version
        if version not in ("", ".", "..") and "/" not in version and candidate.is_dir():
            check_model_files(candidate)
    raise ModelNotFoundError(
        f"no saved model version named {version!r} under {root or models_dir()}; "
        "run `annotator models list` to see what there is"
    )


def folder_bytes(folder: Path) -> int:
    """Disk use of a version's files (a linked folder: its target's)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.resolve().rglob("*") if p.is_file() and not p.is_symlink())


def retired(meta: ModelMeta) -> str:
    """Why a version can no longer be used ("" if it can): discarded when training found it
    worse than the active one, or pruned by ``annotator models prune``; either way its weights
    are gone and only its meta.json is left."""
    for key, what in (("discarded", "discarded"), ("pruned", "pruned")):
        info = (meta.extra or {}).get(key)
        if info:
            when = str(info.get("at", ""))[:10]
            why = f": {info['reason']}" if info.get("reason") else ""
            return f"{what}{f' on {when}' if when else ''}{why}"
    return ""


def check_usable(folder: Path) -> None:
    """Refuse a version whose weights were deleted (discarded or pruned), in one line."""
    path = Path(folder) / META
    if not path.is_file():
        return
    meta = read_meta(folder)
    gone = retired(meta)
    if gone:
        raise ModelNotFoundError(f"model version {meta.version!r} was {gone}; only its meta.json is left "
                                 "(`annotator train` trains a new one)")


def strip_weights(folder: Path, key: str, **info: Any) -> int:
    """Delete everything in a version's folder but its meta.json, and record why under
    ``extra[key]`` (``discarded`` or ``pruned``); returns the bytes freed. The meta.json is
    rewritten first, so that a crash between the two leaves a version marked unusable rather
    than one that looks whole."""
    folder = Path(folder)
    freed = folder_bytes(folder) - ((folder / META).stat().st_size if (folder / META).is_file() else 0)
    meta = read_meta(folder)
    meta.extra[key] = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "freed_bytes": freed, **info}
    write_meta(folder, meta)
    for path in folder.iterdir():
        if path.name == META:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return freed


def check_safetensors(folder: Path) -> None:
    """Refuse folders whose weights are pickles: loading one would run arbitrary code."""
    folder = Path(folder)
    if any(folder.glob("*.safetensors")):
        return
    _refuse_pickles(folder)
    raise ModelNotFoundError(f"{folder}: no model.safetensors here")


def _refuse_pickles(folder: Path) -> None:
    pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES] if folder.is_dir() else []
    if pickles:
        raise UnsafeModelError(
            f"{shown(folder)}: weights are pickled ({', '.join(shown(p) for p in sorted(pickles))}); the tool only "
            "loads safetensors. Convert them on a trusted machine with "
            "`model.save_pretrained(dir, safe_serialization=True)`."
        )


def check_no_code(folder: Path) -> None:
    """Refuse a model folder that brings code of its own: an ``auto_map`` in its config (or
    tokenizer config), which transformers would import and run if allowed (every load here
    passes ``trust_remote_code=False``, so it is never allowed), or Python files. One line that
    says why, before anything reads the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for name in CODE_CONFIGS:
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # absent, or unreadable: transformers says what is wrong with it
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        if auto_map:
            named = _code_names(auto_map)
            listed = ", ".join(shown(n) for n in named[:3]) + (", …" if len(named) > 3 else "")
            raise UnsafeModelError(
                f"{shown(folder)}: {name} names code of its own to run (auto_map: {listed or shown(auto_map)}); "
                "the tool never runs a model folder's code: use a model that transformers supports as it is")
    code = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.py"))
    if code:
        listed = ", ".join(shown(c) for c in code[:3]) + (", …" if len(code) > 3 else "")
        raise UnsafeModelError(
            f"{shown(folder)}: holds Python code ({listed}); the tool never runs a model folder's code: "
            "remove the .py files if the model works without them, or use another model")


def _code_names(auto_map: object) -> list[str]:
    """The modules and classes an ``auto_map`` names (its values: a name, or a list of them)."""
    if not isinstance(auto_map, dict):
        return []
    names: list[str] = []
    for value in auto_map.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item not in names:
                names.append(item)
    return names


def check_loadable(folder: Path) -> None:
    """What every load of weights checks first: no code of the folder's own
    (:func:`check_no_code`), and safetensors weights (:func:`check_safetensors`)."""
    check_no_code(folder)
    check_safetensors(folder)


def check_model_files(folder: Path) -> None:
    """``models use``: refuse a version whose folder brings code of its own, or holds pickled
    weights without safetensors beside them (a version without weights of its own, such as a
    nearest-neighbours model, passes: it reads an encoder, checked when it is loaded)."""
    folder = Path(folder)
    check_no_code(folder)
    if not any(folder.glob("*.safetensors")):
        _refuse_pickles(folder)


@contextlib.contextmanager
def building(final: Path) -> Iterator[Path]:
    """A staging folder beside ``final``, published as ``final`` if the block succeeds, so
    that a model folder appears whole or not at all (a crash leaves only a hidden staging
    folder). Published with the permissions of any new folder here (not mkdtemp's 0700), so
    colleagues sharing ``models/`` can read it."""
    if final.exists():
        raise AnnotatorError(f"{final}: exists already; remove it or choose another version name")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=final.parent))
    except OSError as exc:
        raise AnnotatorError(models_not_writable(final.parent, exc.strerror or type(exc).__name__)) from None
    try:
        yield staging
        share_like_new_files(staging)
        if final.exists():
            raise AnnotatorError(f"{final}: appeared while the model was being written; remove one of them")
        staging.rename(final)
    except Exception as exc:
        if no_space(exc):  # the weights' writers say it in words of their own (safetensors: "os error 28")
            raise DiskFull(final) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # nothing left there after a rename


def no_space(exc: BaseException) -> bool:
    """Whether writing a file failed for lack of space, as Python (ENOSPC, EDQUOT) or the
    libraries that write weights themselves (safetensors, in Rust) put it."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    return "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def version_method(folder: Path | str) -> str | None:
    """The method of a saved version ("knn", "linear", "finetune", ...), or None without meta.json."""
    return read_meta(Path(folder)).method if (Path(folder) / "meta.json").is_file() else None


def read_saved(folder: Path, method: str, required: str) -> ModelMeta:
    """A saved version's meta, checked to be of ``method`` and to hold its ``required`` file."""
    meta = read_meta(folder)
    if meta.method != method:
        raise AnnotatorError(f"{folder}: method is {meta.method!r}, not {method!r}")
    if not (folder / required).is_file():
        raise ModelNotFoundError(f"{folder}: {required} is missing; train the version again")
    return meta


def encoder_reference(encoder_dir: Path, root: Path | None) -> str:
    """The encoder as ``encoder/<version>`` when it lives in the registry (portable), else its path."""
    base = (root or models_dir()).resolve()
    path = Path(encoder_dir).resolve()
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def find_reference(reference: str, root: Path | None) -> Path | None:
    """The folder a reference written by :func:`encoder_reference` names (under ``models/``
    first, then as a path), or None where it is not on this machine."""
    for path in ((root or models_dir()) / reference, Path(reference)):
        if reference and path.is_dir():
            return path
    return None


def find_encoder(meta: ModelMeta, folder: Path, root: Path | None) -> Path:
    names = [meta.base, str(meta.extra.get("encoder_dir", ""))]
    for name in filter(None, names):
        for path in ((root or models_dir()) / name, Path(name)):
            if path.is_dir():
                return path
    raise ModelNotFoundError(
        f"{folder}: its encoder {meta.base!r} is not on this machine; "
        f"run `annotator models setup`, or load it with an explicit encoder folder"
    )
