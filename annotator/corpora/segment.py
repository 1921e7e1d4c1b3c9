"""Sentence segmentation with exact offsets into the original text.

Sentence boundaries come from ``sentencex`` (Wikimedia's rule-based segmenter for ~300
languages: abbreviations, quotes, CJK and Arabic punctuation). Around it we add what speeches
need: paragraphs first (a blank line always ends a sentence; a single line break ends one only
after end punctuation or in CJK text, since English transcripts are often hard-wrapped), Chinese
and Japanese clauses split at ；, an opening quotation mark left at the end of a sentence moved to
the sentence it opens, and segments trimmed of surrounding whitespace. Whatever
the library returns, offsets are recomputed against the original, so
``text[start:end] == segment`` always holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentencex import segment as sentencex_segment

from annotator.text import UNSPACED_CHAR, trimmed

# sentencex knows these languages' rules; others fall back to a close relative or English.
FALLBACK_LANGUAGE = {"gl": "es", "ca": "ca", "he": "he", "zh": "zh", "ja": "ja"}
CJK = UNSPACED_CHAR  # Chinese and Japanese: no spaces between words
END_PUNCT = set(".!?。！？；;:：…\"”’»)）」』")
PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
CJK_CLAUSE = re.compile(r"(?<=；)")
MAX_SEGMENT_CHARS = 2000  # a "sentence" longer than this is cut at a space or punctuation
# Languages that write ordinals as "3." ("die 100. Sitzung"), which sentencex takes for an end.
ORDINAL_DOT_LANGUAGES = {"de", "cs", "sk", "hu", "pl", "da", "no", "nb", "fi", "et", "sl", "hr", "sr", "bs", "tr", "lv"}
ORDINAL_END = re.compile(r"(?:^|\s)\d{1,4}\.$")


@dataclass(frozen=True)
class Piece:
    start: int
    end: int
    text: str


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of paragraphs: split at blank lines, and at single line breaks after end punctuation
    or when the text around the break is CJK (where a line break is a paragraph break)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in PARAGRAPH_BREAK.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        line_start = s
        i = text.find("\n", s, e)
        while i != -1:
            before = text[line_start:i].rstrip()
            after = text[i + 1:i + 3]
            ends = before and before[-1] in END_PUNCT and not opening_quote_at_end(before)
            if before and (ends or CJK.search(before[-1:]) or CJK.search(after)):
                out.append((line_start, i))
                line_start = i + 1
            i = text.find("\n", i + 1, e)
        out.append((line_start, e))
    return out


def _cut_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut a run-on "sentence" (tables, lists without punctuation) into readable pieces."""
    pieces = []
    while end - start > MAX_SEGMENT_CHARS:
        window = text[start:start + MAX_SEGMENT_CHARS]
        cut = max(window.rfind(c) for c in "，,、 \n")
        cut = cut + 1 if cut > MAX_SEGMENT_CHARS // 2 else MAX_SEGMENT_CHARS
        pieces.append((start, start + cut))
        start += cut
    pieces.append((start, end))
    return pieces


def _merge_ordinals(text: str, pieces: list[Piece]) -> list[Piece]:
    """Join a segment ending in an ordinal ("der 3.") with the next one in the same paragraph."""
    out: list[Piece] = []
    for piece in pieces:
        if out and ORDINAL_END.search(out[-1].text) and "\n\n" not in text[out[-1].end:piece.start]:
            prev = out.pop()
            piece = Piece(prev.start, piece.end, text[prev.start:piece.end])
        out.append(piece)
    return out


def segment_text(text: str, language: str = "en") -> list[Piece]:
    """Split ``text`` into sentence segments with code-point offsets into ``text``."""
    lang = FALLBACK_LANGUAGE.get(language, language or "en")
    pieces: list[Piece] = []
    for p_start, p_end in _paragraphs(text):
        para = text[p_start:p_end]
        if not para.strip():
            continue
        cursor = 0
        for sentence in sentencex_segment(lang, para):
            if not sentence:
                continue
            found = para.find(sentence, cursor)
            if found == -1:  # the library normalised something: resync on the stripped form
                found = para.find(sentence.strip(), cursor)
                if found == -1:
                    continue
                sentence = sentence.strip()
            s_start, s_end = found, found + len(sentence)
            cursor = s_end
            bounds = [(s_start, s_end)]
            if CJK.search(sentence):
                bounds = []
                sub = s_start
                for m in CJK_CLAUSE.finditer(para, s_start, s_end):
                    if m.start() > sub:
                        bounds.append((sub, m.start()))
                        sub = m.start()
                bounds.append((sub, s_end))
            for b_start, b_end in bounds:
                a, b = trimmed(para, b_start, b_end)
                for c, d in _cut_long(para, a, b):
                    c, d = trimmed(para, c, d)
                    if d > c:
                        pieces.append(Piece(p_start + c, p_start + d, text[p_start + c:p_start + d]))
    if language in ORDINAL_DOT_LANGUAGES:
        pieces = _merge_ordinals(text, pieces)
    return _merge_fragments(text, _move_opening_quotes(text, pieces))


# Quotation marks, and the marks that close each when it opens a quotation (English “…”, German
# „…“ and »…«, French « … », Swedish ”…”, CJK 「…」). A straight quote opens or closes by its place.
QUOTE_CLOSERS = {
    '"': '"', "'": "'", "«": "»", "»": "«", "„": "“”", "‚": "‘’", "“": "”“", "”": "”", "‘": "’‘", "’": "’",
    "‹": "›", "›": "‹", "「": "」", "『": "』", "《": "》", "〈": "〉", "﹁": "﹂", "﹃": "﹄", "〝": "〞〟",
}
QUOTES = set(QUOTE_CLOSERS) | set("".join(QUOTE_CLOSERS.values()))
CJK_SENTENCE_END = set("。！？；")
CJK_OPENING_QUOTES = set("“‘「『《〈﹁﹃〝")  # in Chinese and Japanese text these only open


def _open_quotes(text: str) -> list[str]:
    """The quotation marks still open at the end of ``text``, innermost last."""
    stack: list[str] = []
    for i, ch in enumerate(text):
        if ch not in QUOTES:
            continue
        if stack and ch in QUOTE_CLOSERS.get(stack[-1], ""):
            # A straight quote or ’ after a letter closes; after a space it opens a nested one.
            if ch in "\"'’" and ch == stack[-1] and (i == 0 or text[i - 1].isspace()):
                stack.append(ch)
            else:
                stack.pop()
        elif ch in QUOTE_CLOSERS and (ch not in "'’" or i == 0 or not text[i - 1].isalnum()):
            stack.append(ch)  # (an apostrophe inside a word, "it's", opens nothing)
    return stack


def opening_quote_at_end(text: str) -> int:
    """How many characters at the end of ``text`` are quotation marks that open a quotation
    (0 if none): marks after a space, or alone, or an opening CJK mark right after 。！？, that
    close nothing opened before them.

    ``… цивилизации. "`` ends in one; ``He said "we will win."`` and French ``« Jamais ! »``
    (closing after a space) do not.
    """
    run = len(text)
    while run > 0 and text[run - 1] in QUOTES:
        run -= 1
    if run == len(text):
        return 0
    before = text[run - 1] if run > 0 else " "
    if not before.isspace() and not (before in CJK_SENTENCE_END and text[run] in CJK_OPENING_QUOTES):
        return 0
    head, marks = text[:run], text[run:]
    still_open = _open_quotes(head)
    if still_open and marks[0] in QUOTE_CLOSERS.get(still_open[-1], ""):
        return 0
    return len(marks)


def _move_opening_quotes(text: str, pieces: list[Piece]) -> list[Piece]:
    """Give an opening quotation mark left at the end of a sentence (``… цивилизации. "`` /
    ``Никогда снова" …``) to the sentence it opens, unless a blank line lies between them. (A
    line that ends in one no longer ends a paragraph, ``_paragraphs``; this catches what a
    splitter, or a break in CJK text, leaves behind.)"""
    pieces = list(pieces)
    out: list[Piece] = []
    for i, piece in enumerate(pieces):
        while i + 1 < len(pieces) and not PARAGRAPH_BREAK.search(text, piece.end, pieces[i + 1].start):
            marks = opening_quote_at_end(piece.text)
            if not marks:
                break
            mark_start = piece.end - marks
            pieces[i + 1] = Piece(mark_start, pieces[i + 1].end, text[mark_start:pieces[i + 1].end])
            start, end = trimmed(text, piece.start, mark_start)
            piece = Piece(start, end, text[start:end])
        if piece.text:  # (empty when the piece was nothing but opening marks)
            out.append(piece)
    return out


# Titles that parliamentary transcripts put before names; sentencex does not know them all, and
# a break after one leaves a segment such as "DDr." on its own.
TITLES = {"dr.", "ddr.", "mag.", "mmag.", "dipl.", "dipl.-ing.", "ing.", "prof.", "abg.", "hon.", "sr.",
          "sra.", "sig.", "dott.", "on.", "m.", "st.", "mr.", "mrs.", "ms.", "bsc.", "msc.", "ba.", "ma.", "mba."}


def _joins_previous(piece: str) -> bool:
    """A sentence does not start in lower case or with a hyphen or comma (in cased scripts)."""
    first = piece[0]
    return first in "-–,;:)" or (first.isalpha() and first.islower() and first.upper() != first)


def _must_join_next(piece: str) -> bool:
    """Whether a piece ends in a title or is a lone abbreviation ("DDr.", "U.S."), not a word."""
    last = piece.rsplit(None, 1)[-1]
    inner = last[1:-1]
    abbreviation = last.endswith(".") and (any(c.isupper() for c in inner) or "." in inner)
    return last.lower() in TITLES or (abbreviation and last == piece)


def _merge_fragments(text: str, pieces: list[Piece]) -> list[Piece]:
    """Rejoin fragments split at an abbreviation: "…Kicklund Dipl." + "-Ing. Olga …"."""
    out: list[Piece] = []
    join_next = False
    for piece in pieces:
        same_line = bool(out) and "\n" not in text[out[-1].end:piece.start]
        if same_line and (join_next or _joins_previous(piece.text)) and not CJK.search(piece.text[:1]):
            prev = out.pop()
            piece = Piece(prev.start, piece.end, text[prev.start:piece.end])
        out.append(piece)
        join_next = _must_join_next(piece.text)
    return out
