"""Exporting the project's gold labels (JSONL, CSV, CoNLL, Hugging Face, Parquet, Prodigy,
Label Studio) and importing labels made in Prodigy or Label Studio. Never imports Textual."""

from annotator.export.formats import FORMATS, ExportReport, export_gold, read_export
from annotator.store.gold import GoldExample, GoldSet, Tie, gold_labels
from annotator.export.interop import IMPORT_FORMATS, LabelImportReport, import_labels
from annotator.export.splits import SplitResult, split_examples

__all__ = [
    "FORMATS", "IMPORT_FORMATS", "ExportReport", "GoldExample", "GoldSet", "LabelImportReport", "SplitResult",
    "Tie", "export_gold", "gold_labels", "import_labels", "read_export", "split_examples",
]
