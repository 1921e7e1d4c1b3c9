"""Slogan suggestions: BIO token classification mapped back to character spans.

Spans are in Python code-point offsets into the segment text (start inclusive, end exclusive),
the same convention as stored annotations. Token predictions are mapped back through the fast
tokenizer's ``offset_mapping``, so this works for scripts without spaces (Chinese) as well as for
French or Russian. Sentencepiece tokenizers often give a word-initial token an offset that starts
at the preceding space; spans are trimmed of surrounding whitespace and punctuation (a slogan is
marked without its quotation marks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError
from annotator.ml.batching import inference_context, map_batched
from annotator.ml.frames import model_labels, read_meta_if_any, trained_max_length
from annotator.ml.delta import tokenizer_folder
from annotator.ml.loading import load_model, load_tokenizer, resolve_checkpoint
from annotator.text import is_unspaced, trimmed_phrase
from annotator.thresholds import reaches

IGNORE_INDEX = -100  # the label id PyTorch's cross-entropy skips (special tokens, padding)
OUTSIDE = "O"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str
    score: float
    text: str


def split_bio(tag: str) -> tuple[str, str]:
    """``"B-Slogan"`` → ``("B", "Slogan")``; ``"O"`` → ``("O", "")``."""
    if tag == OUTSIDE or "-" not in tag:
        return OUTSIDE, ""
    prefix, label = tag.split("-", 1)
    return (prefix if prefix in ("B", "I") else "I"), label


def _in_word(ch: str) -> bool:
    """A letter or digit of a script that separates words with spaces (not CJK, Thai, …)."""
    return ch.isalnum() and not is_unspaced(ch)


def snap_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span that starts or ends inside a word to the whole word.

    Subword tokens make a tagger stop at "humanit|y"; a linguist marks words. In Chinese and
    Japanese, which have no word spaces, the words are jieba's, with the known formulations
    kept whole (``ml.words``): a span never stops at 网络强国阔步迈 for 网络强国阔步迈进.
    """
    from annotator.ml.words import snap_unspaced

    while start > 0 and start < len(text) and _in_word(text[start - 1]) and _in_word(text[start]):
        start -= 1
    while 0 < end < len(text) and _in_word(text[end - 1]) and _in_word(text[end]):
        end += 1
    return snap_unspaced(text, start, end)


MIN_WORDS_SPACED = 2  # a slogan the model finds is a phrase: "take", "the", "anytime" are not
MIN_CHARS_UNSPACED = 2  # nor is one character (园) in Chinese or Japanese


def is_phrase(text: str) -> bool:
    """Whether a span the model found is long enough to suggest: at least two words, or in
    Chinese and Japanese at least two characters (whole words: :func:`snap_to_words`). Known
    formulations are suggested whatever their length (``ml.known`` has its own rule)."""
    if any(is_unspaced(ch) for ch in text):
        return sum(1 for ch in text if ch.isalnum()) >= MIN_CHARS_UNSPACED
    return sum(1 for word in text.split() if any(ch.isalnum() for ch in word)) >= MIN_WORDS_SPACED


def spans_from_token_labels(
    text: str,
    offsets: Sequence[Sequence[int]],
    labels: Sequence[str],
    probs: Sequence[float],
) -> list[Span]:
    """Merge per-token BIO tags into character spans.

    ``offsets[i]`` is token i's (start, end) in ``text``; zero-width tokens (special tokens,
    padding) are skipped without breaking a run. ``B-X`` opens a span, ``I-X`` continues a span
    of label X (or opens one if none is open, as models do emit stray ``I``), anything else
    closes it. A span's score is the mean of its tokens' probabilities.
    """
    found: list[Span] = []
    current: list[Any] | None = None  # [start, end, label, [probs]]

    def close() -> None:
        if current is not None:
            start, end = snap_to_words(text, *trimmed_phrase(text, current[0], current[1]))
            if start < end and is_phrase(text[start:end]):
                score = sum(current[3]) / len(current[3])
                prev = found[-1] if found else None
                if prev is not None and prev.label == current[2] and prev.start < end and start < prev.end:
                    # snapping made two spans overlap: one span, as a person would mark it
                    found.pop()
                    start, end, score = min(prev.start, start), max(prev.end, end), (prev.score + score) / 2
                found.append(Span(start, end, current[2], score, text[start:end]))

    for (start, end), tag, prob in zip(offsets, labels, probs):
        if end <= start:
            continue
        prefix, label = split_bio(tag)
        if prefix == "I" and current is not None and current[2] == label:
            current[0], current[1] = min(current[0], start), max(current[1], end)
            current[3].append(prob)
            continue
        close()
        current = [start, end, label, [prob]] if prefix != OUTSIDE else None
    close()
    return found


def _span_parts(span: Any) -> tuple[int, int, str]:
    if hasattr(span, "start"):
        return span.start, span.end, span.label
    start, end, label = span[:3]
    return start, end, label


def char_spans_to_token_labels(
    offsets: Sequence[Sequence[int]], spans: Iterable[Any], label_names: Sequence[str]
) -> list[int]:
    """Gold character spans → one BIO label id per token (the training targets).

    ``spans`` are :class:`Span` objects or ``(start, end, label)`` tuples; ``label_names`` is the
    model's id→name list (``["O", "B-Slogan", "I-Slogan"]``). A token belongs to a span when their
    characters overlap; the span's first token gets ``B-``, the rest ``I-``. Zero-width tokens
    (special tokens) get -100 so the loss ignores them.
    """
    ids = {name: i for i, name in enumerate(label_names)}
    ranges = sorted(_span_parts(s) for s in spans)
    for _, _, label in ranges:
        if f"B-{label}" not in ids or f"I-{label}" not in ids:
            raise AnnotatorError(f"span label {label!r} is not among the model's labels {list(label_names)}")
    out: list[int] = []
    opened: set[int] = set()
    for start, end in offsets:
        if end <= start:
            out.append(IGNORE_INDEX)
            continue
        hit = next((k for k, (s, e, _) in enumerate(ranges) if start < e and end > s), None)
        if hit is None:
            out.append(ids[OUTSIDE])
            continue
        prefix = "I" if hit in opened else "B"
        opened.add(hit)
        out.append(ids[f"{prefix}-{ranges[hit][2]}"])
    return out


class SpanTagger:
    """Character spans (e.g. slogans) for segments: the one predictor of span taggers, used by
    suggestion, evaluation and the dev figures during training alike (same precision, the
    version's own token length)."""

    def __init__(self, folder: str | Path, max_length: int | None = None) -> None:
        from transformers import AutoModelForTokenClassification

        self.folder: Path | None = resolve_checkpoint(folder)
        self.meta = read_meta_if_any(self.folder)
        self.model = load_model(self.folder, AutoModelForTokenClassification)
        self.tokenizer = load_tokenizer(tokenizer_folder(self.folder))
        if not getattr(self.tokenizer, "is_fast", False):
            raise AnnotatorError(
                f"{self.folder}: the tokenizer cannot give character offsets (not a fast tokenizer); "
                "save the model with a tokenizer.json"
            )
        self.label_names = model_labels(self.model.config, self.meta)
        self.max_length = max_length or trained_max_length(self.meta)
        # A span is suggested only if its score reaches its label's threshold, tuned on dev at
        # training time (versions saved before have none: every span the tags give).
        self.thresholds: dict[str, float] = dict(getattr(self.meta, "thresholds", None) or {})

    @classmethod
    def in_memory(cls, model: Any, tokenizer: Any, tags: Sequence[str], max_length: int,
                  thresholds: dict[str, float] | None = None) -> "SpanTagger":
        """The predictor over a tagger being trained (not saved yet); ``tags`` are its BIO tags."""
        self = cls.__new__(cls)
        self.folder, self.meta = None, None
        self.model, self.tokenizer = model, tokenizer
        self.label_names, self.max_length = list(tags), max_length
        self.thresholds = dict(thresholds or {})
        return self

    @property
    def span_labels(self) -> set[str]:
        """The span labels this tagger can find (from its B-/I- tags)."""
        return {t.split("-", 1)[1] for t in self.label_names if "-" in t}

    def predict(self, texts: Sequence[str], batch_size: int = 16, thresholded: bool = True) -> list[list[Span]]:
        """The spans found in each text, in input order, each sorted by start; those scoring
        under their label's threshold are left out (unless ``thresholded`` is False)."""
        if not texts:
            return []
        self.model.eval()
        found = map_batched(list(texts), batch_size, self._predict_batch)
        if not thresholded or not self.thresholds:
            return found
        return [[sp for sp in row if reaches(sp.score, self.thresholds.get(sp.label, 0.0))] for row in found]

    def predict_tuples(self, texts: Sequence[str], batch_size: int = 16) -> list[list[tuple[int, int, str]]]:
        return [[(s.start, s.end, s.label) for s in row] for row in self.predict(texts, batch_size)]

    def _predict_batch(self, texts: list[str]) -> list[list[Span]]:
        import torch

        enc = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping").tolist()
        enc = enc.to(self.model.device)
        with inference_context(self.model.device.type):
            logits = self.model(**enc).logits
        best, ids = torch.softmax(logits.float(), dim=-1).max(dim=-1)
        best, ids, mask = best.cpu(), ids.cpu(), enc["attention_mask"].bool().cpu()
        result = []
        for row, text in enumerate(texts):
            keep = mask[row].tolist()
            offs = [o if k else (0, 0) for o, k in zip(offsets[row], keep)]
            tags = [self.label_names[i] for i in ids[row].tolist()]
            result.append(spans_from_token_labels(text, offs, tags, best[row].tolist()))
        return result
