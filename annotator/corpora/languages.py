"""Language codes as users write them (``--lang``, a record's ``language`` field): checked and
normalised, so that a typo is refused instead of silently skipping a language's rules.

A code is accepted when ``langcodes`` knows it as a language (ISO 639-1 ``de``, ISO 639-2/3
``deu``/``ger``, an old code such as ``iw``, or a tag with a region or script such as
``pt-BR``); it is stored as its language subtag in the shortest form (``de``, ``he``, ``pt``),
the form the segmenter, the language detector and the models use. An unknown code is one
error naming the nearest known ones: languages whose name starts with it ("ge": German,
Georgian), the language of a country with that code ("cz": Czech), and codes one letter away.
"""

from __future__ import annotations

from functools import lru_cache

import langcodes
from langcodes.data_dicts import LIKELY_SUBTAGS

from annotator.corpora.langid import supported_languages
from annotator.errors import AnnotatorError

# Languages the tool meets that the language detector (lingua, whose names we use) lacks.
EXTRA_NAMES = {"gl": "Galician", "no": "Norwegian", "mt": "Maltese", "lb": "Luxembourgish", "fy": "Frisian",
               "ga": "Irish", "mk": "Macedonian", "sq": "Albanian", "ky": "Kyrgyz", "uz": "Uzbek"}
MAX_SUGGESTIONS = 4


@lru_cache(maxsize=1)
def language_names() -> dict[str, str]:
    """ISO 639-1 code → English name, for the languages the detector knows and a few more."""
    from lingua import Language

    from annotator.corpora.langid import iso

    names = {iso(lang): lang.name.title() for lang in Language.all()}
    names.update({code: name for code, name in EXTRA_NAMES.items() if code not in names})
    return names


def language_name(code: str) -> str:
    return language_names().get(code, code)


def normalise_language(value: str) -> str | None:
    """The language subtag of ``value`` in its shortest form, or None if it is not a language code."""
    text = value.strip()
    if not text or not langcodes.tag_is_valid(text):
        return None
    language = langcodes.Language.get(text).language
    if not language or language in ("und", "zxx", "mul", "mis"):
        return None
    return language


def nearest_languages(value: str) -> list[str]:
    """Known codes a mistyped ``value`` most likely meant, best first."""
    text = value.strip().lower()
    names = language_names()
    found: list[str] = []
    if len(text) >= 2:
        found += sorted(code for code, name in names.items() if name.lower().startswith(text))
        likely = LIKELY_SUBTAGS.get(f"und-{text.upper()}")  # a country's code for its language: "cz", "gr"
        if likely:
            found.append(likely.split("-")[0])
    if len(text) == 2:
        common = supported_languages()
        found += sorted(code for code in names if code in common and _one_letter_apart(code, text))
    return list(dict.fromkeys(found))[:MAX_SUGGESTIONS]


def _one_letter_apart(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1


def unknown_language_message(value: str, what: str = "language") -> str:
    near = nearest_languages(value)
    hint = ("did you mean " + ", ".join(f"{c} ({language_name(c)})" for c in near) + "?") if near else \
        "use an ISO 639-1 code such as en, de, fr, zh"
    return f"{what} {value!r} is not a language code; {hint}"


def checked_language(value: str, what: str = "language") -> str:
    """``value`` normalised (``deu`` → ``de``), or an ``AnnotatorError`` naming the nearest codes."""
    code = normalise_language(value)
    if code is None:
        raise AnnotatorError(unknown_language_message(value, what))
    return code
