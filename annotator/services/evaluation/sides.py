"""What each kind of model is trained, tuned and tested on: the one place that says it, for
training (``services.training``, ``services.speech_training``), the report and the versions
table alike. Every side comes from the project's one split (``annotator.splits``, the sides kept
in the store), the one the export writes: a speech keeps its side once placed.

* frames (segments): the gold examples (:func:`gold_examples`) split by speech (:func:`split`);
* slogan spans: the same split, but dev and test are whole speeches (:func:`whole_speeches`):
  every segment of a dev or test speech, those nobody labelled as segments without a slogan,
  since a tagger suggests over whole speeches and a span it suggests in an unlabelled segment
  is a false positive as anywhere else;
* frames for whole speeches: the speeches with speech labels (``services.speech_docs``), split
  by the same sides (:func:`split_speech_docs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from annotator.errors import AnnotatorError
from annotator.ml.examples import Example
from annotator.model_kinds import SPANS, SPEECH_FRAMES
from annotator.schemes import Scheme
from annotator.store import Store

if TYPE_CHECKING:
    from annotator.ml.speech_frames import SpeechDoc

Sides = tuple[list[Example], list[Example], list[Example]]
UNITS = {SPEECH_FRAMES: "speeches"}  # what a kind's test items are (segments for the others)


def gold_examples(store: Store, scheme: Scheme, annotators: Sequence[str] | None = None) -> list[Example]:
    """One example per segment with a gold decision (adjudicated, single or majority; of
    ``annotators`` only, if given), with the scheme's labels. The same gold the export writes."""
    from annotator.services.context import segment_contexts
    from annotator.store.gold import gold_labels

    out = []
    known_frames, known_spans = set(scheme.frame_ids), set(scheme.span_ids)
    gold = gold_labels(store, annotators).examples
    contexts = segment_contexts(store, (g.speech_id for g in gold))
    for g in gold:
        out.append(Example(
            id=str(g.segment_id), text=g.text, language=g.language,
            frames=[f for f in g.frames if f in known_frames],
            spans=[(s["start"], s["end"], s["label"]) for s in g.spans if s["label"] in known_spans],
            group=g.segment_uid.split(":", 1)[0],  # the speech's content hash: stable across projects
            context=contexts.get(g.segment_id),
        ))
    return out


def split(store: Store, examples: list[Example]) -> Sides:
    """Train / dev / test by the project's own split (``annotator.splits``), the one the export
    writes: a speech keeps its side once placed."""
    from annotator.splits import label_keys, split_examples_by_side
    from annotator.store.gold import project_sides

    sides = project_sides(store, [(ex.group or ex.id, label_keys(ex.frames, (s[2] for s in ex.spans)))
                                  for ex in examples])
    train, dev, test = split_examples_by_side(examples, sides)
    if not train or not test:
        raise AnnotatorError(
            f"too few labelled speeches to train and test ({len(examples)} labelled segments); label more first")
    return train, dev, test


def whole_speeches(store: Store, examples: Sequence[Example]) -> list[Example]:
    """``examples`` and, after them, the other segments of their speeches as segments without a
    slogan: a tagger is tuned and scored on whole speeches, as it suggests, not only on the
    segments someone labelled (a speech whose slogans were marked is taken to have none in the
    segments left unmarked). For spans only: those segments' frames are not known. Examples that
    are not this project's segments (labels from elsewhere) bring nothing more."""
    ids = {int(ex.id) for ex in examples if ex.id.isdigit()}
    if not ids:
        return list(examples)
    segments = store.segments(sorted(ids))
    speech_of = {s.speech_id: (ex_group, s.language) for s in segments
                 for ex_group in [s.uid.split(":", 1)[0]]}
    extra = [Example(id=str(segment_id), text=text, language=speech_of[speech_id][1], group=speech_of[speech_id][0])
             for speech_id, rows in store.speech_segment_texts(list(speech_of)).items()
             for segment_id, text in rows if segment_id not in ids and text.strip()]
    return [*examples, *extra]


def kind_sides(store: Store, kind: str, examples: list[Example]) -> Sides:
    """Train / dev / test of segment ``examples`` for ``kind``: the project's split; for slogan
    spans, dev and test as whole speeches."""
    train, dev, test = split(store, examples)
    if kind == SPANS:  # tuned and scored on whole speeches, as the tagger suggests
        dev, test = whole_speeches(store, dev), whole_speeches(store, test)
    return train, dev, test


def split_speech_docs(store: Store, docs: Sequence[SpeechDoc]) -> tuple[list[SpeechDoc], list[SpeechDoc],
                                                                         list[SpeechDoc]]:
    """Train / dev / test by the project's one split: a speech keeps the side it was given the
    first time it was used (for its segments' labels or its own), and new ones are placed now
    and kept (``store.gold.project_sides``)."""
    from annotator.splits import label_keys, split_examples_by_side
    from annotator.store.gold import project_sides

    sides = project_sides(store, [(d.id, label_keys(d.frames, ())) for d in docs])
    train, dev, test = split_examples_by_side(list(docs), sides)
    return train, dev, test


def speech_sides(store: Store, scheme: Scheme) -> tuple[list[SpeechDoc], list[SpeechDoc], list[SpeechDoc]]:
    """Train / dev / test speeches with speech labels (all empty without any)."""
    from annotator.services.speech_docs import gold_speech_docs

    docs = gold_speech_docs(store, scheme)
    return split_speech_docs(store, docs) if docs else ([], [], [])


def tested_on(store: Store, scheme: Scheme, kind: str) -> tuple[list | None, str, str]:
    """``kind``'s current test items (None where there are none), their unit, and why there
    are none: what the versions table scores every version of ``kind`` on."""
    unit = UNITS.get(kind, "segments")
    if kind == SPEECH_FRAMES:
        test = speech_sides(store, scheme)[2]
        return (test or None), unit, "" if test else "no test speech with speech labels yet"
    examples = gold_examples(store, scheme)
    if not examples:
        return None, unit, "no labelled segments yet"
    try:
        return kind_sides(store, kind, examples)[2], unit, ""
    except Exception as exc:  # too few labelled speeches for a test split
        return None, unit, str(exc)
