"""Language identification with lingua (accurate on short texts; 75 languages, offline).

A speech's language is detected on its opening (600 characters, about 100 words, is plenty and keeps long
speeches cheap). Segments get their own language only where lingua is confident that a long
enough segment is in another language than its speech: a quoted passage in Spanish inside a
Catalan speech, an English sentence in a Chinese report. Short segments ("Thank you.") keep the
speech's language, since no detector is reliable on three words.

Segments are screened with lingua's fast low-accuracy mode (trigrams), which is confidently wrong
on some plain sentences (it gives "A popular public school Bible class in West Virginia faces
legal challenge" to Latin at 0.98); a switch it proposes is kept only when the high-accuracy
mode (up to fivegrams) agrees, is confident, and gives the speech's own language little chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

SPEECH_SAMPLE_CHARS = 600
MIN_SEGMENT_CHARS = 60
MIN_SEGMENT_CONFIDENCE = 0.85  # for the other language, in both modes
MAX_SPEECH_LANGUAGE_CONFIDENCE = 0.10  # for the speech's own language, in high-accuracy mode


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_all_languages().build()


@lru_cache(maxsize=1)
def supported_languages() -> frozenset[str]:
    return frozenset(iso(lang) for lang in Language.all())


# Languages a speech most often quotes or switches into. Choosing among these and the speech's own
# language (rather than all 75) makes segment-level detection both faster and less jumpy.
SWITCH_LANGUAGES = ("en", "fr", "es", "de", "ru", "zh", "ar", "it", "pt", "ca", "la")


def _switch_candidates(speech_language: str) -> list[Language]:
    codes = {c for c in (*SWITCH_LANGUAGES, speech_language) if c}
    return [lang for lang in Language.all() if iso(lang) in codes]


@lru_cache(maxsize=64)
def segment_detector(speech_language: str) -> LanguageDetector:
    # Low-accuracy mode (trigrams only) is about twice as fast: it screens every long segment,
    # and the few switches it proposes are checked by ``confirming_detector``.
    return LanguageDetectorBuilder.from_languages(*_switch_candidates(speech_language)).with_low_accuracy_mode().build()


@lru_cache(maxsize=64)
def confirming_detector(speech_language: str) -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_switch_candidates(speech_language)).build()


def _confirmed_switch(text: str, speech_language: str) -> str:
    """The other language a segment is in, by high-accuracy mode, or '' if it is not sure."""
    values = {iso(v.language): v.value for v in confirming_detector(speech_language).compute_language_confidence_values(text)}
    best = max(values, key=values.__getitem__, default="")
    if (best and best != speech_language and values[best] >= MIN_SEGMENT_CONFIDENCE
            and values.get(speech_language, 0.0) <= MAX_SPEECH_LANGUAGE_CONFIDENCE):
        return best
    return ""


def iso(language: Language | None) -> str:
    return language.iso_code_639_1.name.lower() if language else ""


def detect_speech_language(text: str) -> str:
    """ISO 639-1 code of the speech's main language, or '' if undetectable."""
    return iso(detector().detect_language_of(text[:SPEECH_SAMPLE_CHARS]))


def detect_segment_languages(segments: Sequence[str], speech_language: str) -> list[str]:
    """Each segment's language: the speech's, unless lingua is confident of another."""
    out = [speech_language] * len(segments)
    if speech_language and speech_language not in supported_languages():
        # lingua cannot recognise this language (Galician, say), so it would relabel every
        # long segment as its nearest neighbour (Spanish). Trust the speech's language.
        return out
    long_idx = [i for i, s in enumerate(segments) if len(s) >= MIN_SEGMENT_CHARS]
    if not long_idx:
        return out
    det = segment_detector(speech_language)
    # One at a time: imports already run one worker process per core.
    guesses = [det.detect_language_of(segments[i]) for i in long_idx]
    for i, guess in zip(long_idx, guesses):
        code = iso(guess)
        if not code or code == speech_language:
            continue
        if det.compute_language_confidence(segments[i], guess) >= MIN_SEGMENT_CONFIDENCE:
            out[i] = _confirmed_switch(segments[i], speech_language) or speech_language
    return out
