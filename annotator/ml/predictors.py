"""The one predictor of each model kind, for a saved version: what suggestion, evaluation and
the "better than the previous version" check all load, so that a score means the same thing
wherever it is read (same precision, same token length, same labels and thresholds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError
from annotator.model_kinds import FRAMES, SPANS, SPEECH_FRAMES, TRANSLATION


def load_predictor(kind: str, folder: str | Path) -> Any:
    """``frames``: a nearest-neighbour model or a fine-tuned classifier, whichever the version
    is; ``spans``: the quick tagger over token states or the fine-tuned one; ``translation``: the
    seq2seq translator; ``speech_frames``: a whole speech's frames, aggregated from a segment
    frames version or from its own model. A discarded or pruned version is refused in one line."""
    from annotator.ml.registry import check_usable

    check_usable(Path(folder))
    if kind == FRAMES:
        from annotator.ml.registry import version_method

        method = version_method(folder)
        if method == "knn":
            from annotator.ml.knn import KnnFrameModel

            return _gated(KnnFrameModel.load(folder), FRAMES, folder)
        if method == "linear":
            from annotator.ml.linear import LinearFrameModel

            return _gated(LinearFrameModel.load(folder), FRAMES, folder)
        from annotator.ml.frames import FrameClassifier

        return _in_pytorch(FrameClassifier(folder), folder)
    if kind == SPANS:
        from annotator.ml.registry import version_method

        if version_method(folder) == "linear":
            from annotator.ml.span_linear import LinearSpanTagger

            return _gated(LinearSpanTagger.load(folder), SPANS, folder)
        from annotator.ml.spans import SpanTagger

        return _in_pytorch(SpanTagger(folder), folder)
    if kind == SPEECH_FRAMES:
        from annotator.ml.registry import version_method

        if version_method(folder) == "aggregate":
            from annotator.ml.speech_frames import AggregateSpeechFrames, segment_folder_of

            return AggregateSpeechFrames.load(folder, load_predictor(FRAMES, segment_folder_of(folder)))
        if version_method(folder) == "finetune":
            from annotator.ml.speech_finetune import FinetunedSpeechFrames

            return _in_pytorch(FinetunedSpeechFrames.load(folder), folder)
        from annotator.ml.speech_linear import LinearSpeechFrames

        return LinearSpeechFrames.load(folder)
    if kind == TRANSLATION:
        from annotator.ml.translate import Translator

        return Translator(folder)
    raise AnnotatorError(f"unknown model kind {kind!r}")


def _gated(model: Any, kind: str, folder: str | Path) -> Any:
    """A quick version runs its encoder in the inference engine only where the engine leaves
    its decisions as they are (``ml.engine_checks.gate_version``)."""
    from annotator.ml.engine_checks import gate_version

    gate_version(model, kind, Path(folder))
    return model


def _in_pytorch(model: Any, folder: str | Path) -> Any:
    """A fine-tuned version runs in PyTorch (the engine runs the quick models): say so, once."""
    from annotator.ml.engine import engine_setting, note

    if engine_setting() != "torch":
        note(f"finetuned:{folder}", f"engine: PyTorch for {Path(folder).name}, a fine-tuned version "
                                    "(the int8 engine runs the quick models)")
    return model
