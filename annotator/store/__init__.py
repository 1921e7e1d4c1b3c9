"""All SQL lives here. Never imports Textual."""

from annotator.store.models import GLOSSARY_VERSION
from annotator.store.records import (
    Annotation,
    AnnotationState,
    GlossaryEntry,
    Segment,
    SpanLabel,
    Speech,
    SpeechTranslation,
    Suggestion,
    Translation,
)
from annotator.store.search import SegmentFilter
from annotator.store.store import Store
from annotator.store.suggestions import RunRow, SuggestionRow

__all__ = [
    "Annotation", "AnnotationState", "GlossaryEntry", "GLOSSARY_VERSION", "Segment", "SegmentFilter",
    "SpanLabel", "RunRow", "Speech", "SpeechTranslation", "Store", "Suggestion",
    "SuggestionRow", "Translation",
]
