"""Fine-tuned versions stored as what differs from their base encoder.

A fine-tuned frames classifier or slogan tagger is its base encoder with a new head and tuned
layers. With the default encoder's 250k-row vocabulary the word embeddings stay frozen
(``ml.train``), and they are four fifths of its 465 MB: a full copy per version would store
them again each time. So a version keeps only

* ``delta.safetensors``: every tensor that is not exactly the base's (the head, which the base
  does not have, and the tuned layers), in float32 as trained: nothing is rounded, so the model
  rebuilt from the base and the delta is the trained one, bit for bit;
* ``config.json`` (its labels and architecture) and ``meta.json``, whose ``extra.delta`` names
  the base (``encoder/<version>`` inside ``models/``, else its path) and the SHA-256 of the
  base's weights, checked at every load: a base that changed since cannot silently give
  another model.

The tokenizer is the base's (fine-tuning never changes it) and is read from there.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError, ModelNotFoundError

DELTA_FILE = "delta.safetensors"
CHUNK = 1 << 24


def is_delta(folder: Path | str) -> bool:
    folder = Path(folder)
    return (folder / DELTA_FILE).is_file() and not (folder / "model.safetensors").is_file()


def weights_fingerprint(folder: Path | str) -> str:
    """SHA-256 of a checkpoint's safetensors files (cached per file size and time)."""
    files = sorted(Path(folder).resolve().glob("*.safetensors"))
    return _fingerprint(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=8)
def _fingerprint(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _, _ in files:
        digest.update(Path(path).name.encode())
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def _reference(base_dir: Path, auto_cls: Any, config: Any) -> tuple[Any, set[str]]:
    """The base with ``config``'s head, as fine-tuning started from it, and the keys the base
    checkpoint did not hold (the head's, initialised at random)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialised weights": the head, as expected (``ml.loading`` reads us)
    model, info = auto_cls.from_pretrained(base_dir, config=config, local_files_only=True, use_safetensors=True,
                                           trust_remote_code=False, output_loading_info=True)
    return model, set(info.get("missing_keys", ()))


def save_delta(model: Any, base_dir: Path, auto_cls: Any, folder: Path, base_reference: str) -> dict[str, Any]:
    """Write ``model``'s differences from ``base_dir`` into ``folder`` (with its config);
    returns what ``meta.json`` records under ``extra.delta``."""
    import torch
    from safetensors.torch import save_file

    reference, fresh = _reference(base_dir, auto_cls, model.config)
    base_state = reference.state_dict()
    changed: dict[str, Any] = {}
    own = model.state_dict()
    for key, value in own.items():
        old = base_state.get(key)
        if key in fresh or old is None or old.shape != value.shape or old.dtype != value.dtype \
                or not torch.equal(old, value):
            changed[key] = value.detach().to("cpu").clone().contiguous()
    del reference, base_state
    save_file(changed, str(folder / DELTA_FILE), metadata={"format": "pt", "base": base_reference})
    model.config.save_pretrained(folder)
    size = (folder / DELTA_FILE).stat().st_size
    parameters = sum(v.numel() for v in own.values())
    return {"base": base_reference, "base_weights": weights_fingerprint(base_dir),
            "tensors": len(changed), "of_tensors": len(own),
            "parameters": int(sum(v.numel() for v in changed.values())), "of_parameters": int(parameters),
            "bytes": size}


def base_folder(folder: Path | str) -> Path:
    """The base encoder a delta version is stored against (which must be on this machine)."""
    from annotator.ml.registry import find_reference, read_meta

    folder = Path(folder)
    info = (read_meta(folder).extra or {}).get("delta") or {}
    found = find_reference(str(info.get("base", "")), None)
    if found is None:
        raise ModelNotFoundError(f"{folder}: stores only what differs from its base encoder {info.get('base')!r}, "
                                 "which is not on this machine; put it back under models/ (or train again)")
    return found


def tokenizer_folder(folder: Path | str) -> Path:
    """Where a version's tokenizer is: its own folder, or its base's for a delta version."""
    folder = Path(folder)
    if is_delta(folder) and not (folder / "tokenizer.json").is_file():
        return base_folder(folder)
    return folder


def load_delta(folder: Path | str, auto_cls: Any, **config_overrides: Any) -> Any:
    """The fine-tuned model rebuilt from its base and its delta, in eval mode."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from annotator.ml.registry import check_loadable, check_no_code, read_meta

    folder = Path(folder)
    info = (read_meta(folder).extra or {}).get("delta") or {}
    base = base_folder(folder)
    check_no_code(folder)
    check_loadable(base)  # the base's weights are loaded too
    recorded, actual = info.get("base_weights"), weights_fingerprint(base)
    if recorded and recorded != actual:
        raise AnnotatorError(f"{folder}: its base encoder {base} has other weights than the ones it was trained "
                             "from; the version cannot be rebuilt from it (train again, or restore that encoder)")
    config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    for key, value in config_overrides.items():
        setattr(config, key, value)
    model, fresh = _reference(base, auto_cls, config)
    delta = load_file(str(folder / DELTA_FILE))
    result = model.load_state_dict(delta, strict=False)
    unset = fresh - set(delta)
    if result.unexpected_keys or unset:
        raise AnnotatorError(f"{folder}: the stored differences do not fit {auto_cls.__name__} over {base} "
                             f"({len(result.unexpected_keys)} unknown tensors, {len(unset)} missing)")
    model.eval()
    return model
