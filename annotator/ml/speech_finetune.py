"""Frames for whole speeches from an encoder fine-tuned on them: the option for projects with
many labelled speeches (``annotator train --kind speeches --method finetune``).

The classifier is the segment frames classifier (``ml.train.train_frames``,
``ml.frames.FrameClassifier``) trained on whole speeches: each reads the first ``MAX_LENGTH``
tokens of a speech's text (the opening, where news and speeches set their frame). Minutes per
epoch on a CPU for a few hundred speeches; the quick linear model (``ml.speech_linear``) trains
in seconds and stays the default. Saved as a registry version of kind ``speech_frames`` with
``method="finetune"``: what differs from the base encoder, as fine-tuned segment versions are.
Training and saving are ``services.speech_training``'s (through ``ml.train``); this module is the
predictor, which ``ml.predictors`` loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.ml.examples import Example
from annotator.ml.speech_frames import SpeechDoc
from annotator.ml.speech_linear import speech_text

METHOD = "finetune"
MAX_LENGTH = 512
BATCH_SIZE = 8


def speech_example(doc: SpeechDoc) -> Example:
    """A speech as one training example of the frames classifier."""
    return Example(id=doc.id, text=speech_text(doc), language=doc.language, frames=list(doc.frames), group=doc.id)


class FinetunedSpeechFrames:
    """A speech's frames from a fine-tuned classifier over its text."""

    method = METHOD

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier
        self.labels: list[str] = list(classifier.labels)
        self.thresholds: dict[str, float] = dict(classifier.thresholds)

    def predict_matrix(self, docs: Sequence[SpeechDoc]) -> np.ndarray:
        if not docs:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.classifier.predict_matrix([speech_text(d) for d in docs])

    @classmethod
    def load(cls, folder: Path | str) -> "FinetunedSpeechFrames":
        from annotator.ml.frames import FrameClassifier

        return cls(FrameClassifier(folder))
