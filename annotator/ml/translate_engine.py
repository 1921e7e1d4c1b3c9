"""Translation through CTranslate2 int8: converting a translation version once, checking the
conversion against PyTorch, and running it.

The converted model lives inside the version's folder, at ``engine/ct2-int8/`` (CTranslate2's
``model.bin``, its config and vocabulary), built in a staging folder and renamed into place so
that a crash never leaves half a conversion. Beside the weights, ``engine.json`` records the
check made at conversion: on a handful of real texts (the project's segments when
``annotator models use`` converts, else :data:`PROBES`), how many int8 translations are
identical to PyTorch's greedy output, how similar the others are, and how long the conversion
took. A conversion that failed (an architecture CTranslate2 cannot convert, say) is recorded
there too, as an ``engine.json`` with its ``error`` and no weights, so it is not tried again
on every load; remove the folder to try again.

The bar (:class:`TranslationCheck`): int8 greedy decoding often differs from float32 in a word
or two where two continuations score nearly the same, which is fine for a translation shown
beside a segment as a reading aid. What must not happen is what a broken conversion does (a
shifted vocabulary, a lost language token): empty output, or text unrelated to PyTorch's. So a
conversion is used when no text PyTorch translates comes back empty, and the mean character
similarity of the int8 translation to PyTorch's is at least :data:`MIN_SIMILARITY`; the share
identical is recorded and reported, not required.

This module never imports :mod:`annotator.ml.translate`: the translator passes itself in.
"""

from __future__ import annotations

import difflib
import re
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotator.errors import AnnotatorError
from annotator.ml import engine
from annotator.ml.loading import forget_models
from annotator.ml.registry import META, building, check_loadable
from annotator.progress import Say

if TYPE_CHECKING:
    from annotator.ml.translate import Translator

MIN_SIMILARITY = 0.8  # mean character similarity (difflib ratio) of int8 to PyTorch's greedy output
CHECK_TEXTS = 16  # texts the check translates both ways
CHECK_MAX_NEW_TOKENS = 64  # a sentence's worth; bounds the check on a model that never stops

# The fixed probe texts for a check without the caller's texts: short sentences of the kind the
# tool translates (political speech), in the languages of the demo corpus and the UN's.
PROBES: tuple[tuple[str, str], ...] = (
    ("zh", "我们要坚持以人民为中心的发展思想，推动经济高质量发展。"),
    ("fr", "Le gouvernement présentera demain un projet de loi sur les retraites."),
    ("de", "Die Bundesregierung wird die Investitionen in Bildung deutlich erhöhen."),
    ("ru", "Мы будем и дальше укреплять экономику и поддерживать семьи с детьми."),
    ("ar", "يجب على المجتمع الدولي أن يعمل معا من أجل السلام والتنمية."),
    ("es", "El Gobierno aprobará nuevas medidas para reducir el desempleo juvenil."),
    ("it", "Il Parlamento discuterà la riforma della giustizia la prossima settimana."),
    ("el", "Η κυβέρνηση θα στηρίξει τις μικρές επιχειρήσεις και τους αγρότες."),
    ("cs", "Vláda předloží rozpočet na příští rok do konce září."),
    ("hu", "A kormány új programot indít a vidéki települések fejlesztésére."),
    ("bg", "Народното събрание прие бюджета на първо четене."),
    ("he", "הממשלה תגיש השבוע את תקציב המדינה לכנסת."),
    ("ca", "El Parlament ha aprovat la llei d'educació amb una àmplia majoria."),
    ("pt", "O governo vai reforçar o investimento na saúde pública."),
    ("zh", "全面建成小康社会是我们党向人民作出的庄严承诺。"),
    ("fr", "Nous devons protéger nos services publics et soutenir nos territoires."),
    ("de", "Wir müssen den Klimaschutz und die soziale Gerechtigkeit zusammen denken."),
    ("ru", "Безопасность наших граждан остаётся главным приоритетом государства."),
    ("en", "The government will present its budget to parliament next week."),
    ("en", "We must work together to build a fairer and more secure world."),
)


def engine_dir(folder: Path) -> Path:
    """Where a translation version's converted model lives: ``<version>/engine/ct2-int8``."""
    return Path(folder) / "engine" / f"ct2-{engine.COMPUTE_TYPE}"


# ------------------------------------------------------------------------------- the check


def similarity(a: str, b: str) -> float:
    """How alike two translations are, 0..1: difflib's ratio over characters (any script)."""
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@dataclass
class TranslationCheck:
    """int8 translations against PyTorch's greedy ones, on the same texts."""

    texts: int = 0
    identical: int = 0
    empty: int = 0  # texts PyTorch translates to something and the engine to nothing
    similarity_mean: float = 1.0
    similarity_min: float = 1.0
    target: str = ""
    source: str = ""  # "project" (the caller's texts) or "probes" (PROBES)
    seconds: float = 0.0

    def failures(self) -> list[str]:
        why = []
        if not self.texts:
            why.append("no text in a language the model takes to check it on")
        if self.empty:
            why.append(f"{self.empty} of {self.texts} translations empty where PyTorch's are not")
        if self.similarity_mean < MIN_SIMILARITY:
            why.append(f"mean similarity to PyTorch {self.similarity_mean:.3f} < {MIN_SIMILARITY}")
        return why

    @property
    def passed(self) -> bool:
        return not self.failures()

    def summary(self) -> str:
        """``15/16 translations identical to PyTorch's greedy output, mean similarity 0.994``"""
        return (f"{self.identical}/{self.texts} translations identical to PyTorch's greedy output, "
                f"mean similarity {self.similarity_mean:.3f}")

    def to_json(self) -> dict[str, Any]:
        return {"texts": self.texts, "identical": self.identical,
                "identical_share": round(self.identical / self.texts, 4) if self.texts else None,
                "empty_where_pytorch_is_not": self.empty, "similarity_mean": round(self.similarity_mean, 4),
                "similarity_min": round(self.similarity_min, 4), "target": self.target, "source": self.source,
                "seconds": round(self.seconds, 2), "min_similarity": MIN_SIMILARITY}


def compare(reference: Sequence[str], candidate: Sequence[str], **about: Any) -> TranslationCheck:
    """The check of ``candidate`` translations (the engine's) against ``reference`` (PyTorch's)."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference translations but {len(candidate)} candidates")
    sims = [similarity(r, c) for r, c in zip(reference, candidate)]
    return TranslationCheck(
        texts=len(sims),
        identical=sum(r == c for r, c in zip(reference, candidate)),
        empty=sum(bool(r.strip()) and not c.strip() for r, c in zip(reference, candidate)),
        similarity_mean=sum(sims) / len(sims) if sims else 1.0,
        similarity_min=min(sims, default=1.0),
        **about,
    )


def check_from_json(data: dict[str, Any]) -> TranslationCheck:
    return TranslationCheck(
        texts=data.get("texts", 0), identical=data.get("identical", 0),
        empty=data.get("empty_where_pytorch_is_not", 0), similarity_mean=data.get("similarity_mean", 1.0),
        similarity_min=data.get("similarity_min", 1.0), target=data.get("target", ""),
        source=data.get("source", ""), seconds=data.get("seconds", 0.0))


# ------------------------------------------------------------------------------- the engine


class Ct2Seq2Seq:
    """A converted translation model, loaded for the CPU at the engine's compute type."""

    def __init__(self, path: Path, model: Any = None) -> None:
        ctranslate2 = engine.ct2()
        self.path = Path(path)
        self.model = model or ctranslate2.Translator(
            str(self.path), device="cpu", compute_type=engine.COMPUTE_TYPE, intra_threads=engine.threads())

    def generate(self, sources: list[list[str]], target_prefix: str | None, beam_size: int,
                 max_new_tokens: int, **options: Any) -> list[list[str]]:
        """The best hypothesis's tokens for each source, the target prefix included.
        ``max_new_tokens`` counts the prefix, as ``generate``'s does the forced language code;
        ``options``: more of ``translate_batch``'s (``repetition_penalty``, …)."""
        results = self.model.translate_batch(
            sources,
            target_prefix=[[target_prefix]] * len(sources) if target_prefix else None,
            beam_size=beam_size,
            max_decoding_length=max_new_tokens,
            max_input_length=0,  # the tokenizer has truncated already, as for PyTorch
            **options,
        )
        return [r.hypotheses[0] for r in results]


_loaded: dict[str, Ct2Seq2Seq] = {}
_loaded_lock = threading.Lock()


def load_engine(path: Path) -> Ct2Seq2Seq:
    """The converted model at ``path`` (loaded once per process)."""
    key = str(Path(path).resolve())
    with _loaded_lock:
        if key not in _loaded:
            _loaded[key] = Ct2Seq2Seq(Path(path))
        return _loaded[key]


def clear_cache() -> None:
    with _loaded_lock:
        _loaded.clear()


def _converter(folder: Path) -> Any:
    """CTranslate2's converter for a local folder, loading offline, never unpickling and never
    running the folder's own code (:func:`annotator.ml.engine.converter_class`), with the
    tokenizer's whole vocabulary: transformers 5 leaves M2M100's language codes out of
    ``get_vocab()``, which would shift every id after them."""

    class Converter(engine.converter_class()):
        def load_model(self, model_class: Any, name: str, **kwargs: Any) -> Any:
            model = super().load_model(model_class, name, **kwargs)
            # CTranslate2 reads BART's norm placement from the config, where transformers 5 only
            # keeps it if the checkpoint's config.json says it: the architecture's own, then.
            prenorm = _PRE_NORM.get(getattr(model.config, "model_type", ""))
            if prenorm is not None and not hasattr(model.config, "normalize_before"):
                model.config.normalize_before = prenorm
            return model

        def load_tokenizer(self, tokenizer_class: Any, name: str, **kwargs: Any) -> Any:
            return _WholeVocabulary(super().load_tokenizer(tokenizer_class, name, **kwargs))

    return Converter(str(folder))


_PRE_NORM = {"bart": False, "mbart": True, "pegasus": True}  # layer norm before each block?


class _WholeVocabulary:
    """A tokenizer whose ``get_vocab()`` also holds its language codes and added tokens."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    def get_vocab(self) -> dict[str, int]:
        vocab = dict(self._tokenizer.get_vocab())
        vocab.update(getattr(self._tokenizer, "lang_token_to_id", None) or {})
        vocab.update(self._tokenizer.get_added_vocab())
        ids = sorted(vocab.values())
        if ids != list(range(len(ids))):
            raise AnnotatorError("the tokenizer's vocabulary has gaps in its ids; CTranslate2 needs one id per token")
        return vocab


def convert(translator: "Translator", texts: Sequence[tuple[str, str]] | None = None,
            say: Say | None = None) -> dict[str, Any]:
    """Convert a translation version to CTranslate2 int8 and check it against PyTorch; publish
    the converted model with its ``engine.json`` at :func:`engine_dir`, or, where conversion
    failed, an ``engine.json`` saying why. Returns the record.

    ``texts``: ``(language, text)`` pairs to check on (the project's segments), else
    :data:`PROBES`. Raises where nothing could be written (the folder is read-only, another
    process published first)."""
    ctranslate2 = engine.ct2()
    folder = translator.folder
    final = engine_dir(folder)
    say = say or (lambda line: None)
    record: dict[str, Any] = {"engine": "ctranslate2", "ctranslate2": ctranslate2.__version__,
                              "cpu_isa": engine.choose_cpu_isa() or "ctranslate2's choice",
                              "quantization": engine.COMPUTE_TYPE, "model_type": translator.model_type,
                              "family": translator.family,
                              "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with building(final) as staging:
        say(f"converting {folder.name} to CTranslate2 {engine.COMPUTE_TYPE} (once)…")
        started = time.perf_counter()
        try:
            check_loadable(folder)
            _converter(folder).convert(str(staging), quantization=engine.COMPUTE_TYPE, force=True)
            loaded = Ct2Seq2Seq(staging)
        except Exception as exc:  # noqa: BLE001 - any failure means "PyTorch for this version"
            shutil.rmtree(staging, ignore_errors=True)  # keep only the record of the failure
            staging.mkdir(exist_ok=True)
            record.update(passed=False, error=f"{type(exc).__name__}: {_one_line(exc)}", failures=["conversion failed"])
            engine.write_engine_json(staging, record)
        else:
            record["conversion_seconds"] = round(time.perf_counter() - started, 2)
            say(f"checking the conversion against PyTorch on up to {CHECK_TEXTS} texts…")
            check = run_check(translator, loaded, texts)
            record.update(check=check.to_json(), passed=check.passed, failures=check.failures())
            engine.write_engine_json(staging, record)
    if record.get("passed"):
        with _loaded_lock:  # the model just checked is the one to use; no second load
            _loaded[str(final.resolve())] = Ct2Seq2Seq(final, loaded.model)
    return record


def run_check(translator: "Translator", loaded: Ct2Seq2Seq, texts: Sequence[tuple[str, str]] | None) -> TranslationCheck:
    """Translate the same texts through PyTorch (greedy) and the converted model, and compare."""
    started = time.perf_counter()
    target = translator.probe_target()
    pairs = choose_texts(translator, list(texts) if texts else list(PROBES), target)
    source = "project" if texts else "probes"
    if texts and not pairs:  # none of the caller's texts in a language this model takes
        pairs, source = choose_texts(translator, list(PROBES), target), "probes"
    # Texts the model is told about alike go in one call (a Marian model: all of them).
    groups: dict[Any, tuple[str, list[str]]] = {}
    for lang, text in pairs:
        groups.setdefault(translator.language_setup(lang, target), (lang, []))[1].append(text)
    reference: list[str] = []
    candidate: list[str] = []
    for lang, group in groups.values():
        common = dict(src_lang=lang, tgt_lang=target, max_new_tokens=CHECK_MAX_NEW_TOKENS, num_beams=1)
        reference += translator.translate_with(None, group, **common)
        candidate += translator.translate_with(loaded, group, **common)
    return compare(reference, candidate, target=target, source=source, seconds=time.perf_counter() - started)


def choose_texts(translator: "Translator", pairs: list[tuple[str, str]], target: str) -> list[tuple[str, str]]:
    """Up to :data:`CHECK_TEXTS` of ``pairs`` in languages the model takes (not the target),
    taken in turn from each language."""
    usable: dict[str, list[str]] = {}
    for lang, text in pairs:
        if text.strip() and translator.accepts(lang, target):
            usable.setdefault(lang, []).append(text)
    chosen: list[tuple[str, str]] = []
    while usable and len(chosen) < CHECK_TEXTS:
        for lang in list(usable):
            chosen.append((lang, usable[lang].pop(0)))
            if not usable[lang]:
                del usable[lang]
            if len(chosen) == CHECK_TEXTS:
                break
    return chosen


# ------------------------------------------------------------------------------- choosing


def select(translator: "Translator", setting: str) -> Ct2Seq2Seq | None:
    """The converted model to translate with under ``setting`` (``auto`` or ``ct2``), converting
    a saved version on first use; None for PyTorch, with one line (:func:`engine.note`) why."""
    folder = translator.folder
    key = f"translation:{folder}"
    name = f"translation model {folder.name}"
    missing = engine.ct2_missing()
    if missing:
        engine.note(key, f"{name}: PyTorch, as {missing}")
        return None
    final = engine_dir(folder)
    record = engine.read_engine_json(final)
    if record is None and final.exists():
        engine.note(key, f"{name}: PyTorch, as {final} holds no readable {engine.ENGINE_FILE}; remove it to convert again")
        return None
    converted_now = record is None
    if record is None:
        if not (folder / META).is_file():
            engine.note(key, f"{name}: PyTorch, as it is not a saved model version (no {META}); "
                             "save it under models/translation/ and `annotator models use` it to convert it")
            return None
        try:
            record = convert(translator)
        except Exception as exc:  # noqa: BLE001 - unwritable folder, a race: PyTorch this time
            engine.note(key, f"{name}: PyTorch, as converting it failed ({_one_line(exc)})")
            return None
    if record.get("error"):
        engine.note(key, f"{name}: PyTorch, as CTranslate2 cannot convert it ({record['error']}); "
                         f"remove {final} to try again")
        return None
    if not record.get("passed"):
        why = "; ".join(record.get("failures", [])) or "its check failed"
        if setting != "ct2":
            engine.note(key, f"{name}: PyTorch, as its {engine.COMPUTE_TYPE} conversion fell short of the bar ({why}); "
                             "ANNOTATOR_ENGINE=ct2 uses it anyway")
            return None
        engine.note(key, f"{name}: CTranslate2 as the engine is set to ct2, although its conversion fell short ({why})")
    elif converted_now:
        engine.note(f"{key}:converted", f"{name}: converted to CTranslate2 {engine.COMPUTE_TYPE} on first use "
                                        f"({outcome(record)})")
        forget_models(folder)  # the check's PyTorch model: not needed while the engine translates
    try:
        return load_engine(final)
    except Exception as exc:  # noqa: BLE001 - a damaged model.bin: PyTorch, and say so
        engine.note(key, f"{name}: PyTorch, as its converted model would not load ({_one_line(exc)}); "
                         f"remove {final} to convert again")
        return None


def outcome(record: dict[str, Any]) -> str:
    """One phrase about a conversion's record: what was measured, and whether it is used."""
    if record.get("error"):
        return f"conversion failed: {record['error']}; translation stays on PyTorch"
    check = check_from_json(record.get("check", {}))
    took = f"converted in {record.get('conversion_seconds', 0):.2g} s"
    if record.get("passed"):
        return f"{check.summary()}, {took}; used for translation"
    return (f"{check.summary()}, {took}; falls short ({'; '.join(record.get('failures', []))}), so PyTorch "
            "translates unless ANNOTATOR_ENGINE=ct2")


def _one_line(exc: BaseException) -> str:
    """An exception as one short line (CTranslate2 lists every architecture it supports)."""
    text = re.sub(r"\s*\(supported configurations are:.*", "", " ".join(str(exc).split()))
    return text[:200] or type(exc).__name__
