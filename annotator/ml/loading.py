"""Load tokenizers and models from local folders only, never from the network.

Every load goes through :func:`resolve_checkpoint`, which accepts a folder or a Hugging Face
repository id that is already in the local cache, and never downloads. Weights must be
safetensors (:func:`annotator.ml.registry.check_safetensors` refuses pickles before
transformers sees the folder), and a folder's own code never runs: a folder that names some
(``auto_map``) is refused first (:func:`annotator.ml.registry.check_no_code`), every
``from_pretrained`` passes ``trust_remote_code=False``, and transformers' question whether to
run it is switched off (:func:`quiet_transformers`), so that no load can stop at a prompt.
Loaded models and tokenizers are cached per folder, because the UI asks for one segment at a
time and reloading a model per call would cost seconds.
"""

from __future__ import annotations

import functools

import re
import threading
import warnings
from pathlib import Path
from typing import Any

from annotator.errors import ModelNotFoundError, UnsafeModelError, shown
from annotator.ml import registry

# A Hugging Face repository id: "name" or "owner/name", no path tricks.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")



def is_repo_id(name: str) -> bool:
    """Whether ``name`` reads as a Hugging Face repository id (what the cache is searched for)."""
    return _REPO_ID.match(name) is not None


_lock = threading.RLock()
_models: dict[tuple[str, str, str], Any] = {}
_tokenizers: dict[str, Any] = {}


def fetch_hint(name: str, target: Path | str | None = None) -> str:
    """The command that fetches a hub model on a machine with internet access."""
    where = f" --local-dir {target}" if target else ""
    return f"`hf download {name}{where}` on a machine with internet access, then copy the folder here"


def _not_found(name: str, looked: str, repo_id: str = "<repo-id>", target: str | None = None) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"model {name!r} not found (looked in {looked}); get it with {fetch_hint(repo_id, target)}"
    )


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """The local folder of a model: an existing folder, or a repo id found in the HF cache.

    Never downloads (``local_files_only=True``, the same as ``HF_HUB_OFFLINE=1``).
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path.resolve()
    name = str(name_or_path)
    if isinstance(name_or_path, Path) or not is_repo_id(name) or path.is_absolute():
        raise _not_found(name, str(path.resolve()), target=str(path))
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE

    try:
        return Path(snapshot_download(repo_id=name, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError, bad ids, …: all mean "not here"
        raise _not_found(name, f"{path.resolve()} and the Hugging Face cache {HF_HUB_CACHE}", repo_id=name) from None


def quiet_transformers() -> None:
    """Silence transformers' progress bars and info logs, which would scribble over the UI, and
    its question whether to run a model folder's own code: where a load did not say
    ``trust_remote_code=False`` (a library's own call), it fails rather than waits for an answer."""
    from transformers import dynamic_module_utils
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    dynamic_module_utils.TIME_OUT_REMOTE_CODE = 0  # 0: no prompt, an error (transformers' CI setting)


def refused_code(folder: Path, exc: Exception) -> UnsafeModelError | None:
    """transformers' refusal to run a folder's own code (we never allow it), as one line."""
    text = str(exc)
    if "trust_remote_code" not in text and "custom code" not in text:
        return None
    return UnsafeModelError(f"{shown(folder)}: the model needs code of its own to load, which the tool never runs "
                            "(trust_remote_code=False): use a model that transformers supports as it is")


_quiet_transformers = quiet_transformers  # the old private name, still imported by train.py

# Files of which at least one is present wherever a tokenizer was saved.
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
    "sentencepiece.bpe.model", "spiece.model", "source.spm",
)


def load_tokenizer(name_or_path: str | Path) -> Any:
    """The tokenizer saved in a model folder (cached per folder)."""
    folder = resolve_checkpoint(name_or_path)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        # transformers 5 would otherwise build an empty-vocabulary tokenizer without a word.
        raise ModelNotFoundError(
            f"{folder}: no tokenizer files (none of {', '.join(TOKENIZER_FILES)}); "
            "copy the tokenizer files that belong to this model into the folder"
        )
    key = str(folder)
    with _lock:
        if key not in _tokenizers:
            registry.check_no_code(folder)  # a tokenizer_config.json may name code of its own (auto_map)
            quiet_transformers()
            from transformers import AutoTokenizer

            try:
                with warnings.catch_warnings():
                    # MarianTokenizer nags about the optional sacremoses on every load.
                    warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
                    _tokenizers[key] = AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                                     trust_remote_code=False)
            except (OSError, ValueError) as exc:
                refused = refused_code(folder, exc)
                if refused is not None:
                    raise refused from None
                raise ModelNotFoundError(
                    f"{folder}: no usable tokenizer files here ({str(exc).splitlines()[0]}); "
                    f"copy the tokenizer files that belong to this model into the folder"
                ) from None
        return _tokenizers[key]


def _weights_stamp(folder: Path) -> str:
    # A rewritten folder (same path, new weights) must not be served from the cache.
    return ",".join(f"{p.name}:{p.stat().st_mtime_ns}" for p in sorted(folder.glob("*.safetensors")))


def load_model(name_or_path: str | Path, auto_cls: Any, **kwargs: Any) -> Any:
    """A model in eval mode from a local folder through ``auto_cls.from_pretrained``.

    Refuses pickled weights and code of the folder's own (:class:`UnsafeModelError`) and turns a
    missing model into a one-line :class:`ModelNotFoundError`. Cached per (folder, class, weights, kwargs).
    """
    from annotator.ml.delta import is_delta, load_delta

    folder = resolve_checkpoint(name_or_path)
    registry.check_safetensors(folder)
    key = (str(folder), f"{auto_cls.__name__}{sorted(kwargs.items())!r}", _weights_stamp(folder))
    with _lock:
        if key not in _models:
            registry.check_no_code(folder)
            quiet_transformers()
            try:
                if is_delta(folder):  # a fine-tuned version kept as what differs from its base
                    model = load_delta(folder, auto_cls, **kwargs)
                else:
                    model = auto_cls.from_pretrained(folder, local_files_only=True, use_safetensors=True,
                                                     trust_remote_code=False, **kwargs)
            except (OSError, ValueError) as exc:
                refused = refused_code(folder, exc)
                if refused is not None:
                    raise refused from None
                raise ModelNotFoundError(f"{folder}: cannot load the model ({str(exc).splitlines()[0]})") from None
            model.eval()
            for old in [k for k in _models if k[:2] == key[:2]]:
                del _models[old]  # superseded weights of the same folder: free the memory
            _models[key] = model
        return _models[key]


def forget_models(name_or_path: str | Path) -> None:
    """Drop the cached models of one folder (its weights now run elsewhere: the engine)."""
    key = str(resolve_checkpoint(name_or_path))
    with _lock:
        for old in [k for k in _models if k[0] == key]:
            del _models[old]


def clear_cache() -> None:
    """Forget every cached model and tokenizer (tests; freeing memory after a retrain)."""
    with _lock:
        _models.clear()
        _tokenizers.clear()


def weights_key(folder: Path | str) -> str:
    """A short id of a model folder's weights (folder name, config and weight file size)."""
    return _weights_key(str(Path(folder).resolve()))


@functools.lru_cache(maxsize=16)
def _weights_key(resolved: str) -> str:  # asked on every suggestion chunk: read the folder once
    import hashlib

    folder = Path(resolved)
    digest = hashlib.sha256(folder.name.encode())
    if (folder / "config.json").is_file():
        digest.update((folder / "config.json").read_bytes())
    weights = folder / "model.safetensors"
    if weights.is_file():
        digest.update(str(weights.stat().st_size).encode())
    return f"{folder.name}:{digest.hexdigest()[:12]}"
