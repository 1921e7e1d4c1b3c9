"""Machine translation of segments with any local seq2seq checkpoint.

Families differ in how they are told the languages:

- MarianMT (``opus-mt-xx-en``): the checkpoint fixes the pair; multi-target checkpoints
  (``opus-mt-en-ROMANCE``, …) need a ``>>xx<<`` token at the start of the source text.
- NLLB-200: FLORES codes (``zho_Hans``) through ``tokenizer.src_lang`` and
  ``forced_bos_token_id`` for the target.
- M2M100: ISO 639-1 codes (``zh``) through ``tokenizer.src_lang`` and ``get_lang_id``.
- mBART-50: codes like ``zh_CN``, found in the tokenizer's vocabulary.
- anything else: the text as is.

The family is detected from the tokenizer class and ``config.model_type``.

Two engines run the model (:mod:`annotator.ml.engine`): CTranslate2 int8 where the process's
setting allows it and the version's conversion passed its check (:mod:`translate_engine`:
converted on first use, or by ``annotator models use``), greedy unless beams are asked for;
PyTorch otherwise, with the model's own generation settings, as before. Both take the same
tokens and language codes and decode the same way.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError, ModelNotFoundError
from annotator.ml import engine as engines
from annotator.ml import translate_engine
from annotator.ml.batching import equal_length_batches, map_batched
from annotator.ml.loading import load_model, load_tokenizer, quiet_transformers, refused_code, resolve_checkpoint
from annotator.ml import registry
from annotator.ml.registry import check_loadable
from annotator.progress import Say

# ISO 639-1 → NLLB-200 (FLORES-200) codes; covers the demo corpus and the common EU/UN languages.
NLLB_CODES: dict[str, str] = {
    "zh": "zho_Hans", "zh-hans": "zho_Hans", "zh-cn": "zho_Hans", "zh-hant": "zho_Hant", "zh-tw": "zho_Hant",
    "en": "eng_Latn", "de": "deu_Latn", "it": "ita_Latn", "el": "ell_Grek", "ca": "cat_Latn",
    "es": "spa_Latn", "gl": "glg_Latn", "fr": "fra_Latn", "cs": "ces_Latn", "hu": "hun_Latn",
    "bg": "bul_Cyrl", "he": "heb_Hebr", "ru": "rus_Cyrl", "ar": "arb_Arab", "pt": "por_Latn",
    "ja": "jpn_Jpan", "pl": "pol_Latn", "uk": "ukr_Cyrl", "nl": "nld_Latn", "tr": "tur_Latn",
    "ko": "kor_Hang", "fa": "pes_Arab", "sv": "swe_Latn", "ro": "ron_Latn", "hi": "hin_Deva",
    "vi": "vie_Latn", "id": "ind_Latn", "sr": "srp_Cyrl", "hr": "hrv_Latn", "sk": "slk_Latn",
    "sl": "slv_Latn", "da": "dan_Latn", "fi": "fin_Latn", "nb": "nob_Latn", "no": "nob_Latn",
    "et": "est_Latn", "lv": "lvs_Latn", "lt": "lit_Latn", "eu": "eus_Latn", "mk": "mkd_Cyrl",
    "be": "bel_Cyrl", "ka": "kat_Geor", "hy": "hye_Armn", "ur": "urd_Arab", "bn": "ben_Beng",
    "th": "tha_Thai", "sw": "swh_Latn", "ms": "zsm_Latn", "tl": "tgl_Latn", "cy": "cym_Latn",
    "ga": "gle_Latn", "is": "isl_Latn", "mt": "mlt_Latn", "sq": "als_Latn", "az": "azj_Latn",
    "kk": "kaz_Cyrl", "uz": "uzn_Latn", "bs": "bos_Latn",
}
_NLLB_PATTERN = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_MARIAN_TARGET = re.compile(r"^>>[\w-]+<<$")
_MBART_PATTERN = re.compile(r"^[a-z]{2}_[A-Z]{2}$")

# The cached tokenizer is shared, and setting ``src_lang`` changes it: one translation at a time.
_lock = threading.Lock()


def nllb_code(lang: str) -> str:
    """The NLLB-200 code of an ISO 639-1 code (``zh`` → ``zho_Hans``); NLLB codes pass through."""
    if _NLLB_PATTERN.match(lang):
        return lang
    code = NLLB_CODES.get(lang.lower().replace("_", "-"))
    if code is None:
        raise AnnotatorError(f"language {lang!r} has no NLLB-200 code in the table; pass one such as 'zho_Hans'")
    return code


def base_lang(lang: str) -> str:
    """``zh-Hans`` → ``zh``: the ISO 639-1 part that M2M100 and Marian use."""
    return re.split(r"[-_]", lang)[0].lower()


def detect_family(model_type: str, tokenizer: Any) -> str:
    """``nllb``, ``m2m100``, ``marian``, ``mbart50`` or ``plain``."""
    cls = type(tokenizer).__name__.lower()
    if "nllb" in cls:
        return "nllb"
    if "m2m100" in cls:
        return "m2m100"
    if "marian" in cls or model_type == "marian":
        return "marian"
    if "mbart" in cls and getattr(tokenizer, "lang_code_to_id", None):
        return "mbart50"
    return "plain"


def _vocab_token(tokenizer: Any, candidates: Sequence[str]) -> str | None:
    vocab = tokenizer.get_vocab()
    return next((c for c in candidates if c in vocab), None)


class Translator:
    """Translate segments with a local seq2seq checkpoint (folder or cached hub id).

    ``engine``: ``auto``, ``ct2`` or ``torch``; by default the process's setting
    (:func:`annotator.ml.engine.engine_setting`). ``self.engine`` says which one runs."""

    def __init__(self, name_or_path: str | Path, max_input_tokens: int = 512, engine: str | None = None) -> None:
        self.folder = resolve_checkpoint(name_or_path)
        check_loadable(self.folder)  # pickled weights and a folder's own code are refused before anything reads it
        self.tokenizer = load_tokenizer(self.folder)
        self.config = _load_config(self.folder)
        self.model_type = str(getattr(self.config, "model_type", ""))
        self.family = detect_family(self.model_type, self.tokenizer)
        self.max_input_tokens = max_input_tokens
        self._forced_eos, self._ct2_options = _generation_settings(self.folder, self.config)
        setting = engine or engines.engine_setting()
        if setting not in engines.ENGINES:
            raise AnnotatorError(f"unknown engine {setting!r}; use one of {', '.join(engines.ENGINES)}")
        if setting == "torch" and engine is None:
            engines.note(f"translation:{self.folder}", f"translation model {self.folder.name}: PyTorch, as the engine is set to torch")
        self.ct2 = translate_engine.select(self, setting) if setting != "torch" else None
        self.engine = "ct2" if self.ct2 is not None else "torch"
        if self.ct2 is None:
            _ = self.model  # load now, as before: a bad folder fails here, not at the first segment

    @property
    def model(self) -> Any:
        """The PyTorch model (loaded on first use; the CTranslate2 path never needs it)."""
        from transformers import AutoModelForSeq2SeqLM

        return load_model(self.folder, AutoModelForSeq2SeqLM)

    def translate(
        self,
        texts: Sequence[str],
        src_lang: str,
        tgt_lang: str = "en",
        batch_size: int = 8,
        max_new_tokens: int = 256,
        num_beams: int | None = None,
    ) -> list[str]:
        """One translation per text, in input order; blank texts give ``""``. Through
        CTranslate2 decoding is greedy unless ``num_beams`` is given; through PyTorch the
        model's own generation settings apply."""
        return self.translate_with(self.ct2, texts, src_lang, tgt_lang, batch_size, max_new_tokens, num_beams)

    def translate_with(
        self,
        backend: translate_engine.Ct2Seq2Seq | None,
        texts: Sequence[str],
        src_lang: str,
        tgt_lang: str = "en",
        batch_size: int = 8,
        max_new_tokens: int = 256,
        num_beams: int | None = None,
    ) -> list[str]:
        """:meth:`translate` through ``backend`` (a converted model), or PyTorch for None."""
        prefix, src_code, forced_bos = self._language_setup(src_lang, tgt_lang)
        extra = {"num_beams": num_beams} if num_beams else {}

        def run(batch: list[str]) -> list[str]:
            if backend is not None:
                return self._generate_ct2(backend, batch, prefix, src_code, forced_bos, max_new_tokens, num_beams or 1)
            return self._generate(batch, prefix, src_code, forced_bos, max_new_tokens, extra)

        todo = [i for i, t in enumerate(texts) if t.strip()]
        done = map_batched([texts[i] for i in todo], batch_size, run)
        out = [""] * len(texts)
        for i, text in zip(todo, done):
            out[i] = text
        return out

    def accepts(self, lang: str, tgt_lang: str, strict: bool = True) -> bool:
        """Whether this model translates ``lang`` into ``tgt_lang`` (a different language). A
        Marian model that names its source language takes only that one when ``strict``."""
        if base_lang(lang) == base_lang(tgt_lang):
            return False
        try:
            self._language_setup(lang, tgt_lang)
        except AnnotatorError:
            return False
        source = str(getattr(self.tokenizer, "source_lang", "") or "")
        if strict and self.family == "marian" and re.fullmatch(r"[a-z]{2,3}", source):
            try:
                third = nllb_code(lang)[:3]
            except AnnotatorError:
                third = ""
            return source in (base_lang(lang), third)
        return True

    def probe_target(self) -> str:
        """The target language to check a conversion with: English where the model has it,
        else a multi-target Marian model's first target."""
        if self.family == "marian":
            targets = sorted(t[2:-2] for t in self.tokenizer.get_vocab() if _MARIAN_TARGET.match(t))
            if targets and _vocab_token(self.tokenizer, [">>en<<", ">>eng<<"]) is None:
                return targets[0]
        return "en"

    def language_setup(self, src_lang: str, tgt_lang: str) -> tuple[str, str | None, int | None]:
        """What the model is told about a pair of languages: (text prefix, tokenizer src_lang,
        forced BOS id); texts with the same setup can share a batch."""
        return self._language_setup(src_lang, tgt_lang)

    def _language_setup(self, src_lang: str, tgt_lang: str) -> tuple[str, str | None, int | None]:
        """(text prefix, tokenizer src_lang, forced BOS id) for this family."""
        tok = self.tokenizer
        if self.family == "nllb":
            src, tgt = nllb_code(src_lang), nllb_code(tgt_lang)
            return "", self._known(src), tok.convert_tokens_to_ids(self._known(tgt))
        if self.family == "m2m100":
            src, tgt = base_lang(src_lang), base_lang(tgt_lang)
            for code in (src, tgt):
                if code not in tok.lang_code_to_id:
                    raise AnnotatorError(f"{self.folder}: M2M100 has no language code {code!r}")
            return "", src, tok.get_lang_id(tgt)
        if self.family == "mbart50":
            src, tgt = self._mbart_code(src_lang), self._mbart_code(tgt_lang)
            return "", src, tok.convert_tokens_to_ids(tgt)
        if self.family == "marian":
            return self._marian_prefix(tgt_lang), None, None
        return "", None, None

    def _known(self, code: str) -> str:
        if _vocab_token(self.tokenizer, [code]) is None:
            raise AnnotatorError(f"{self.folder}: the tokenizer has no language code {code!r}")
        return code

    def _mbart_code(self, lang: str) -> str:
        base = base_lang(lang)
        codes = sorted(c for c in self.tokenizer.lang_code_to_id if _MBART_PATTERN.match(c) and c[:2] == base)
        if not codes:
            raise AnnotatorError(f"{self.folder}: mBART has no language code for {lang!r}")
        return codes[0]

    def _marian_prefix(self, tgt_lang: str) -> str:
        """``>>xx<< `` for multi-target Marian checkpoints, else nothing."""
        targets = [t for t in self.tokenizer.get_vocab() if _MARIAN_TARGET.match(t)]
        if not targets:
            return ""
        candidates = [f">>{tgt_lang}<<", f">>{base_lang(tgt_lang)}<<"]
        try:
            code = nllb_code(tgt_lang)
            candidates += [f">>{code}<<", f">>{code[:3]}<<"]
        except AnnotatorError:
            pass  # no NLLB code for it: the ISO forms above are the candidates
        found = _vocab_token(self.tokenizer, candidates)
        if found is None:
            raise AnnotatorError(
                f"{self.folder}: this multi-target Marian model has no target token for {tgt_lang!r} "
                f"(it knows {', '.join(sorted(targets)[:12])}…)"
            )
        return found + " "

    def _generate(
        self,
        batch: list[str],
        prefix: str,
        src_code: str | None,
        forced_bos: int | None,
        max_new_tokens: int,
        extra: dict[str, Any],
    ) -> list[str]:
        import torch

        kwargs = dict(extra, max_new_tokens=max_new_tokens)
        if forced_bos is not None:
            kwargs["forced_bos_token_id"] = forced_bos
        with _lock:
            if src_code is not None:
                self.tokenizer.src_lang = src_code
            enc = self.tokenizer(
                [prefix + t for t in batch],
                padding=True,
                truncation=True,
                max_length=self.max_input_tokens,
                return_tensors="pt",
            )
        with torch.inference_mode():
            generated = self.model.generate(**enc, **kwargs).tolist()
        # Some tokenizers do not count language codes as special: drop the forced one ourselves.
        rows = [[i for i in row if i != forced_bos] for row in generated]
        return [t.strip() for t in self.tokenizer.batch_decode(rows, skip_special_tokens=True)]

    def _generate_ct2(
        self,
        backend: translate_engine.Ct2Seq2Seq,
        batch: list[str],
        prefix: str,
        src_code: str | None,
        forced_bos: int | None,
        max_new_tokens: int,
        beam_size: int,
    ) -> list[str]:
        with _lock:
            if src_code is not None:
                self.tokenizer.src_lang = src_code
            ids = self.tokenizer([prefix + t for t in batch], truncation=True,
                                 max_length=self.max_input_tokens)["input_ids"]
        sources = [self.tokenizer.convert_ids_to_tokens(row) for row in ids]
        target = self.tokenizer.convert_ids_to_tokens(forced_bos) if forced_bos is not None else None
        rows: list[list[int]] = [[] for _ in sources]
        # sources of one token length at a time: nothing padded, so that a text's translation
        # does not depend on the texts beside it (``ml.engine``: oneDNN's int8 kernels let padded
        # rows change the others)
        for group in equal_length_batches([len(row) for row in sources], max(1, len(sources))):
            found = backend.generate([sources[i] for i in group], target, beam_size, max_new_tokens,
                                     **self._ct2_options)
            for i, tokens in zip(group, found):
                if self._forced_eos is not None and len(tokens) >= max_new_tokens:
                    tokens = tokens[: max_new_tokens - 1]  # where generate() would put the forced end token
                rows[i] = [t for t in self.tokenizer.convert_tokens_to_ids(tokens) if t != forced_bos]
        return [t.strip() for t in self.tokenizer.batch_decode(rows, skip_special_tokens=True)]


def _load_config(folder: Path) -> Any:
    from transformers import AutoConfig

    registry.check_no_code(folder)
    quiet_transformers()
    try:
        return AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        refused = refused_code(folder, exc)
        if refused is not None:
            raise refused from None
        raise ModelNotFoundError(f"{folder}: no usable config.json ({str(exc).splitlines()[0]})") from None


def _generation_settings(folder: Path, config: Any) -> tuple[int | None, dict[str, Any]]:
    """What the checkpoint tells ``generate`` that the engine must do alike: the end token it
    forces at the length limit (Marian, mBART), if any, and its repetition settings."""
    from transformers import GenerationConfig

    try:
        generation = GenerationConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError):
        generation = GenerationConfig.from_model_config(config)
    options: dict[str, Any] = {}
    if (getattr(generation, "repetition_penalty", None) or 1.0) != 1.0:
        options["repetition_penalty"] = float(generation.repetition_penalty)
    if getattr(generation, "no_repeat_ngram_size", None):
        options["no_repeat_ngram_size"] = int(generation.no_repeat_ngram_size)
    return getattr(generation, "forced_eos_token_id", None), options


def prepare_engine(folder: str | Path, texts: Sequence[tuple[str, str]] | None = None,
                   say: Say | None = None) -> str:
    """Convert a translation version for the engine now (``annotator models use``), checked on
    ``texts`` (``(language, text)`` pairs, the project's), unless the engine is set to torch,
    CTranslate2 is missing or it is converted already. One line on the outcome."""
    if engines.engine_setting() == "torch":
        return "translation engine: PyTorch (the engine is set to torch); not converted"
    missing = engines.ct2_missing()
    if missing:
        return f"translation engine: PyTorch, as {missing}"
    folder = resolve_checkpoint(folder)
    record = engines.read_engine_json(translate_engine.engine_dir(folder))
    if record is not None:
        return f"translation engine: converted already ({translate_engine.outcome(record)})"
    try:
        record = translate_engine.convert(Translator(folder, engine="torch"), texts, say)
    except (OSError, AnnotatorError) as exc:  # a read-only folder, another process converting it
        return f"translation engine: PyTorch for now, as converting failed ({' '.join(str(exc).split())[:200]})"
    return f"translation engine: CTranslate2 {engines.COMPUTE_TYPE}, {translate_engine.outcome(record)}"
