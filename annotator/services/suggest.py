"""Machine suggestions for segments: the service that joins the store and the models.

For each segment, and each active model version, it stores:

* **frames**: the labels whose score passes the version's threshold (with their scores), and
  for the run as a whole the top scores and an uncertainty figure (for low-confidence-first);
* **spans**: slogan spans from the tagger, and glossary formulations found in the text (by
  their phrase, or in English by their official rendering; ``services.glossary``) under the
  pseudo-version ``glossary``;
* **translations**, cheapest source first: the corpus itself (set at import; aligned sentence
  by sentence here once the encoder exists, ``services.corpus_translations``), the translation
  memory (an identical segment already translated by a person or the corpus), an active
  translation model, and for Chinese, offline word glosses from CC-CEDICT (marked as a gloss).
  A segment that none of them translates is remembered with the sources there were, and tried
  again only when they change (another translation model version becomes active).

Batch runs (``annotator suggest``) commit chunk by chunk, so an interrupted run resumes where it
stopped. The UI calls :func:`suggest_segments` for one segment from a worker thread. Each model's
work is two functions, compute and write, which ``annotator suggest --ray`` (``services.cluster``)
uses too: there the computing runs on Ray workers and this process writes.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.errors import ModelNotFoundError
from annotator.ml.active import binary_entropy, order_by_uncertainty
from annotator.ml.predictors import load_predictor
from annotator.model_kinds import FRAMES, SPANS, SUGGESTING_KINDS, TRANSLATION
from annotator.progress import Progress
from annotator.services.glossary import glossary_matches  # noqa: F401 - where it was before it moved
from annotator.services.glossary import ensure_seed, regloss, run_glossary
from annotator.store import GLOSSARY_VERSION, RunRow, Segment, Store, Suggestion, SuggestionRow
from annotator.thresholds import DEFAULT_THRESHOLD, reaches, rounded_score

if TYPE_CHECKING:
    from annotator.ml.context import SegmentContext
    from annotator.ml.spans import Span

CHUNK = 256
TOP_K = 5


@dataclass
class SuggestReport:
    segments: dict[str, int] = field(default_factory=dict)  # per model version
    translations: dict[str, int] = field(default_factory=dict)  # per provenance
    skipped: list[str] = field(default_factory=list)
    untranslatable: dict[str, int] = field(default_factory=dict)  # per language, found this run
    alignment: str = ""  # what aligning the corpus translations did

    def summary(self) -> str:
        parts = [f"{v}: {n} segments" for v, n in self.segments.items()]
        parts += [f"translations from {p}: {n}" for p, n in self.translations.items() if n]
        text = "; ".join(parts) or "nothing to do: every segment has suggestions from the active models"
        notes = list(self.skipped)
        if self.alignment:
            notes.insert(0, self.alignment)
        if self.untranslatable:
            langs = ", ".join(f"{lang or '?'} {n}" for lang, n in sorted(self.untranslatable.items()))
            notes.append(f"no translation source for {langs} segment(s): {NO_SOURCE_HINT} (not tried again "
                         "until the translation model changes)")
        return text + "".join(f"\nnote: {s}" for s in notes)


NO_SOURCE_HINT = ("a translation model through `annotator models use` (MarianMT, NLLB-200, M2M100) "
                  "would give one")


def translation_sources(versions: dict[str, str]) -> str:
    """What could translate a segment besides the corpus and the memory: the active translation
    model version. A segment that these sources could not translate is not tried again until
    this changes."""
    return f"model:{versions.get(TRANSLATION, '')}"


# ----------------------------------------------------------------------------- models
class ActiveModels:
    """The active frames / spans / translation models of a project, loaded once, lazily."""

    _lock = threading.Lock()
    _cache: dict[tuple[str, str], Any] = {}

    def __init__(self, store: Store) -> None:
        self.versions = store.active_models()
        self.paths = {m["version"]: Path(m["path"]) for m in store.registered_models()}

    def folder(self, kind: str) -> Path | None:
        version = self.versions.get(kind)
        if not version:
            return None
        path = self.paths.get(version)
        if path is None or not path.is_dir():
            raise ModelNotFoundError(
                f"the active {kind} model {version!r} is not on disk (expected {path}); run "
                f"`annotator models list` and `annotator models use`, or `annotator models setup`")
        return path

    def load(self, kind: str) -> Any | None:
        folder = self.folder(kind)
        if folder is None:
            return None
        key = (kind, str(folder))
        with self._lock:
            if key not in self._cache:
                self._cache[key] = load_predictor(kind, folder)
            return self._cache[key]


def frame_suggestions(scores: dict[str, float], thresholds: dict[str, float]) -> tuple[list[Suggestion], float, dict]:
    """The frames whose score reaches their threshold (``annotator.thresholds``, the one rule),
    the run's uncertainty (mean binary entropy) and its scores: the top ones with their
    thresholds, and every label's score in the model's label order (``scores``, the order of the
    version's ``labels``), all at the precision the rule compares (three decimals), so that the
    annotation screen, which shows them beside each label's threshold, ticks what was ticked here."""
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    chosen = [Suggestion(0, "", "frame", label, float(score))
              for label, score in ranked if reaches(score, thresholds.get(label, DEFAULT_THRESHOLD))]
    uncertainty = sum(binary_entropy(p) for p in scores.values()) / max(len(scores), 1)
    info = {"top": [[label, rounded_score(score)] for label, score in ranked[:TOP_K]],
            "thresholds": {label: thresholds.get(label, DEFAULT_THRESHOLD) for label, _ in ranked[:TOP_K]},
            "scores": [rounded_score(score) for score in scores.values()]}
    return chosen, uncertainty, info


# ------------------------------------------------------------------ compute, then write
# Each model's work in two halves, which the local path (below) and the Ray path
# (``services.cluster``) share: *compute* (a model and texts -> results; no store) and *write*
# (results -> the store, one transaction per call; a segment's earlier run of the version is
# replaced, so writing again never duplicates).

def reads_embeddings(model: Any) -> bool:
    """Whether a frames model scores over sentence embeddings (nearest neighbours, linear), which
    the project keeps: the encoder runs once per text, and the rest is cheap."""
    return hasattr(model, "embedding_cache") and getattr(model, "encoder_dir", None) is not None


def use_embedding_cache(store: Store, model: Any) -> None:
    """Let a model over sentence embeddings (nearest neighbours, linear) read and fill the
    project's cache, so that each text is embedded once per encoder."""
    from annotator.ml.embeddings import encoder_key

    if reads_embeddings(model):
        model.embedding_cache = store.embedding_cache(encoder_key(model.encoder_dir))


def frame_contexts(store: Store, model: Any, segments: Sequence[Segment]) -> list[SegmentContext | None] | None:
    """Each segment's place in its speech, for a model that reads context (None for the others)."""
    from annotator.ml.context import uses_context

    if not uses_context(model):
        return None
    from annotator.services.context import segment_contexts

    around = segment_contexts(store, (s.speech_id for s in segments))
    return [around.get(s.id) for s in segments]


def compute_frame_scores(model: Any, texts: Sequence[str],
                         contexts: Sequence[SegmentContext | None] | None = None) -> list[dict[str, float]]:
    """``{label: score}`` per text, from any frames predictor."""
    from annotator.ml.context import predict_scores

    matrix = predict_scores(model, list(texts), contexts)
    return [dict(zip(model.labels, map(float, row))) for row in matrix]


@dataclass
class ChunkRows:
    """One version's results for a chunk of segments, as rows ready to write
    (``Store.replace_runs``): built where they are computed (here, or on a Ray worker, which
    sends them back as they are), so that writing them is all that is left to do."""

    runs: list[RunRow] = field(default_factory=list)
    suggestions: list[SuggestionRow] = field(default_factory=list)


def frame_thresholds(model: Any) -> dict[str, float]:
    """The per-label thresholds a frames predictor's suggestions are decided by."""
    return dict(getattr(model, "thresholds", {}) or {})


def frame_rows(segment_ids: Sequence[int], scores: Sequence[dict[str, float]],
               thresholds: dict[str, float]) -> ChunkRows:
    """Each segment's chosen frames and its run (uncertainty, top scores: :func:`frame_suggestions`)."""
    rows = ChunkRows()
    for segment_id, sc in zip(segment_ids, scores, strict=True):
        chosen, unc, info = frame_suggestions(sc, thresholds)
        rows.suggestions += [(segment_id, "frame", s.label, None, None, float(s.score), "{}") for s in chosen]
        rows.runs.append((segment_id, unc, json.dumps(info, ensure_ascii=False)))
    return rows


def write_rows(store: Store, version: str, rows: ChunkRows) -> None:
    """A chunk's rows in one transaction (each segment's earlier run of the version replaced)."""
    store.replace_runs(version, rows.runs, rows.suggestions)


def write_frames(store: Store, version: str, thresholds: dict[str, float], segment_ids: Sequence[int],
                 scores: Sequence[dict[str, float]]) -> None:
    write_rows(store, version, frame_rows(segment_ids, scores, thresholds))


def embedding_keys(model: Any, texts: Sequence[str]) -> list[str]:
    """The keys under which a model over sentence embeddings finds ``texts``' vectors in the
    project's store (they name the encoder's engine: ``ml.embeddings.text_key``)."""
    from annotator.ml.embeddings import embedding_keys as keys

    return keys(model.encoder_dir, texts, model.prefix, model.max_length, model.engine)


def compute_embeddings(model: Any, texts: Sequence[str]) -> np.ndarray:
    """The sentence embeddings the model itself reads for ``texts`` (its encoder, prefix, length
    and engine; at the store's precision), computed afresh."""
    return model.embed(list(texts))


def compute_spans(model: Any, texts: Sequence[str], speeches: Sequence[int] | None = None) -> list[list[Span]]:
    """The spans of each text, from either slogan tagger; ``speeches`` (each text's speech)
    applies the quick tagger's limit of spans per speech (``ml.span_linear``)."""
    if speeches is not None and getattr(model, "max_per_speech", None):
        return model.predict(list(texts), groups=[str(s) for s in speeches])
    return model.predict(list(texts))


def span_rows(segment_ids: Sequence[int], spans: Sequence[Sequence[Span]]) -> ChunkRows:
    """Each segment's spans and its run (uncertainty: 1 - its lowest span's score, 0 without one)."""
    rows = ChunkRows()
    for segment_id, found in zip(segment_ids, spans, strict=True):
        rows.suggestions += [(segment_id, "span", sp.label, sp.start, sp.end, float(sp.score), "{}") for sp in found]
        low = min((sp.score for sp in found), default=None)
        rows.runs.append((segment_id, float(1 - low) if low is not None else 0.0, "{}"))
    return rows


def write_spans(store: Store, version: str, segment_ids: Sequence[int], spans: Sequence[Sequence[Span]]) -> None:
    write_rows(store, version, span_rows(segment_ids, spans))


# ---------------------------------------------------------------------------- running
def _chunks(items: Sequence[Segment], size: int | None = None):
    """``items`` in chunks of about ``size``, a speech's segments never cut across two chunks
    where they come together (the slogan tagger's limit per speech sees the whole speech)."""
    size = size or CHUNK  # read when called (a test makes chunks small)
    start = 0
    while start < len(items):
        end = min(start + size, len(items))
        speech = getattr(items[end - 1], "speech_id", None)
        while speech is not None and end < len(items) and getattr(items[end], "speech_id", None) == speech:
            end += 1
        yield items[start:end]
        start = end


def _run_frames(store: Store, model: Any, version: str, segments: Sequence[Segment],
                contexts: Sequence[SegmentContext | None] | None | bool = True) -> None:
    """``contexts``: as :func:`frame_contexts` gave them, where the caller has them already."""
    thresholds = frame_thresholds(model)
    if contexts is True:
        contexts = frame_contexts(store, model, segments)
    with ActiveModels._lock:  # the loaded model is shared: its cache is this store's while it predicts
        use_embedding_cache(store, model)
        try:
            scores = compute_frame_scores(model, [s.text for s in segments], contexts)
        finally:
            if hasattr(model, "embedding_cache"):
                model.embedding_cache = None
    write_frames(store, version, thresholds, [s.id for s in segments], scores)


def _run_spans(store: Store, model: Any, version: str, segments: Sequence[Segment]) -> None:
    write_spans(store, version, [s.id for s in segments],
                compute_spans(model, [s.text for s in segments], [s.speech_id for s in segments]))


def segments_to_do(store: Store, version: str, only_missing: bool, limit: int | None) -> list[Segment]:
    """The segments a run of ``version`` covers: those it has not looked at yet, or all."""
    if only_missing:
        return store.segments_missing_run(version, limit)
    return list(itertools.islice(store.iter_segments(), limit))


# A way to run one model version over the segments it covers, writing as it goes; returns how many
# it covered. ``run_locally`` is this process's; ``services.cluster`` has the Ray one.
ModelRun = Callable[[Store, "ActiveModels", str, str, bool, "int | None", "Progress | None"], int]


def run_locally(store: Store, models: "ActiveModels", kind: str, version: str, only_missing: bool,
                limit: int | None, progress: Progress | None) -> int:
    """A frames or spans version over its segments, chunk by chunk, in this process."""
    segments = segments_to_do(store, version, only_missing, limit)
    if not segments:
        return 0
    model = models.load(kind)
    done = 0
    for chunk in _chunks(segments):
        (_run_frames if kind == FRAMES else _run_spans)(store, model, version, chunk)
        done += len(chunk)
        if progress:
            progress(f"suggest:{kind}", done, len(segments))
    return done


def _translate(store: Store, models: ActiveModels, segments: Sequence[Segment], report: SuggestReport,
               target: str = "en") -> None:
    """Fill missing translations: memory, then model, then (Chinese) word glosses; remember the
    segments that none of them translates."""
    sources = translation_sources(models.versions)
    todo = [s for s in segments if s.language and s.language != target and store.best_translation(s.id, target) is None
            and store.untranslatable_with(s.id, target) != sources]
    if not todo:
        return
    untranslated: list[Segment] = []
    remaining = []
    with store.write():
        for seg in todo:
            memory = store.translation_memory(seg.text, target)
            if memory is not None:
                store.add_translation(seg.id, target, memory.text, "memory", f"segment {memory.segment_id}")
                report.translations["memory"] = report.translations.get("memory", 0) + 1
            else:
                remaining.append(seg)
    translator = models.load(TRANSLATION) if models.versions.get(TRANSLATION) else None
    unmodelled = remaining  # what no model translates: glossed (Chinese, Japanese) or remembered
    if translator is not None and remaining:
        version = models.versions[TRANSLATION]
        by_lang: dict[str, list[Segment]] = {}
        for seg in remaining:
            by_lang.setdefault(seg.language, []).append(seg)
        unmodelled = []
        for lang, segs in by_lang.items():
            if hasattr(translator, "accepts") and not translator.accepts(lang, target):
                unmodelled += segs  # (a Marian zh-en model does not translate Bulgarian)
                continue
            outputs = translator.translate([s.text for s in segs], src_lang=lang, tgt_lang=target)
            done = 0
            with store.write():
                for seg, text in zip(segs, outputs):
                    if text.strip():
                        store.add_translation(seg.id, target, text, "model", version)
                        done += 1
                    else:
                        untranslated.append(seg)
            report.translations["model"] = report.translations.get("model", 0) + done
    chinese = [s for s in unmodelled if s.language in ("zh", "ja")]
    untranslated += [s for s in unmodelled if s.language not in ("zh", "ja")]
    if chinese:  # glossed outside the write (the glosser takes seconds to load), the formulations whole
        regloss(store, chinese, target)
        report.translations["gloss"] = report.translations.get("gloss", 0) + len(chinese)
    if untranslated:
        store.record_untranslatable([s.id for s in untranslated], target, sources)
        for seg in untranslated:
            report.untranslatable[seg.language] = report.untranslatable.get(seg.language, 0) + 1


def suggest_all(store: Store, only_missing: bool = True, limit: int | None = None,
                progress: Progress | None = None, translate: bool = True,
                run_model: ModelRun = run_locally) -> SuggestReport:
    """Run every active model (and the glossary) over the segments that lack its suggestions;
    ``run_model`` runs the frames and spans versions (here, or on Ray: ``services.cluster``)."""
    report = SuggestReport()
    seeded = ensure_seed(store, into_empty=False)  # the shipped glossary reaches projects made before it grew
    if seeded.added or seeded.updated or seeded.removed:
        report.skipped.append(f"glossary: {seeded.line('official formulations from the seed glossary')}")
    models = ActiveModels(store)
    entries = store.glossary()
    segments = segments_to_do(store, GLOSSARY_VERSION, only_missing, limit)
    for i, chunk in enumerate(_chunks(segments), start=1):
        run_glossary(store, entries, chunk)
        if progress:
            progress("suggest:glossary", min(i * CHUNK, len(segments)), len(segments))
    if segments:
        report.segments[GLOSSARY_VERSION] = len(segments)
    for kind in SUGGESTING_KINDS:
        version = models.versions.get(kind)
        if not version:
            report.skipped.append(f"no active {kind} model (run `annotator models setup` or `annotator train`)")
            continue
        done = run_model(store, models, kind, version, only_missing, limit, progress)
        if done:
            report.segments[version] = done
    if translate:
        from annotator.ml.gloss import GLOSSER
        from annotator.services.corpus_translations import align_corpus_translations

        report.alignment = align_corpus_translations(store, progress=progress).line()
        stale = store.segments_with_translation("gloss", except_model=GLOSSER)  # an earlier glosser's
        stale = stale[:limit] if limit else stale
        for i, chunk in enumerate(_chunks(stale), start=1):  # a chunk a transaction: resumable
            regloss(store, chunk)
            if progress:
                progress("suggest:gloss", min(i * CHUNK, len(stale)), len(stale))
        if stale:
            report.translations["gloss (made again)"] = len(stale)
        missing = store.segments_without_translation("en", limit, sources=translation_sources(models.versions))
        for i, chunk in enumerate(_chunks(missing), start=1):
            _translate(store, models, chunk, report)
            if progress:
                progress("translate", min(i * CHUNK, len(missing)), len(missing))
    return report


def suggest_segments(store: Store, segment_ids: Sequence[int], progress: Progress | None = None) -> int:
    """Suggestions and a translation for these segments, where the active models have none yet."""
    models = ActiveModels(store)
    segments = store.segments(list(segment_ids))
    entries = store.glossary()
    todo = [s for s in segments if not _has_run(store, s.id, GLOSSARY_VERSION)]
    if todo:
        run_glossary(store, entries, todo)
    for kind in SUGGESTING_KINDS:
        version = models.versions.get(kind)
        if not version:
            continue
        need = [s for s in segments if not _has_run(store, s.id, version)]
        if need:
            model = models.load(kind)
            (_run_frames if kind == FRAMES else _run_spans)(store, model, version, need)
    _translate(store, models, segments, SuggestReport())
    if progress:
        progress("suggest", len(segments), len(segments))
    return len(segments)


def _has_run(store: Store, segment_id: int, version: str) -> bool:
    return store.has_run(segment_id, version)


NEXT_COUNT = 10  # segments `annotator next` lists, and `annotate --queue next` opens


def uncertainty_scores(store: Store, segment_ids: Sequence[int]) -> dict[int, float]:
    """How unsure the active models are of each segment they have scored (the figure
    :func:`uncertainty_ranked` orders by: frames' mean binary entropy plus spans' 1 - lowest score)."""
    active = store.active_models()
    frames_unc = store.uncertainties(active[FRAMES], segment_ids) if FRAMES in active else {}
    spans_unc = store.uncertainties(active[SPANS], segment_ids) if SPANS in active else {}
    return {i: frames_unc.get(i, 0.0) + spans_unc.get(i, 0.0) for i in segment_ids
            if i in frames_unc or i in spans_unc}


def next_to_label(store: Store, annotator: str, count: int = NEXT_COUNT) -> list[tuple[int, float | None]]:
    """The segments worth labelling next for ``annotator``: untouched by them, least certain
    first, a few at a time per speech; each with its uncertainty (None: not scored yet)."""
    from annotator.store import SegmentFilter

    ids = store.segment_ids(SegmentFilter(status="untouched", annotator=annotator))
    scores = uncertainty_scores(store, ids)
    ranked = uncertainty_ranked(store, ids, scores=scores)[:max(count, 0)]
    return [(i, scores.get(i)) for i in ranked]


def queue_segments(store: Store, spec: str, annotator: str) -> tuple[str, list[int]]:
    """The segments a named queue holds, in order, and its name as shown: ``next`` (the
    :data:`NEXT_COUNT` that `annotator next` lists) or ``next:N``."""
    from annotator.errors import AnnotatorError

    name, _, size = spec.strip().partition(":")
    if name != "next" or (size and not size.isdigit()) or (size and int(size) < 1):
        raise AnnotatorError(f"--queue {spec!r}: use next or next:N (the N segments `annotator next -n N` lists)")
    count = int(size) if size else NEXT_COUNT
    return "next", [i for i, _ in next_to_label(store, annotator, count)]


def uncertainty_ranked(store: Store, segment_ids: Sequence[int], diversity: int = 3,
                       scores: dict[int, float] | None = None) -> list[int]:
    """``segment_ids`` reordered least certain first, a few at a time per speech.

    Uses the uncertainty each active model stored with its run (frames: mean binary entropy;
    spans: 1 - the lowest span score), added up as in :func:`annotator.ml.active.uncertainty`
    (:func:`uncertainty_scores`; ``scores``: where the caller has them already). Segments the
    active models have not scored yet come last, in their original order.
    """
    if scores is None:
        scores = uncertainty_scores(store, segment_ids)
    scored = [i for i in segment_ids if i in scores]
    speech_of = {s.id: s.speech_id for s in store.segments(scored)}
    ordered = order_by_uncertainty(((str(i), str(speech_of.get(i, "")), scores[i]) for i in scored),
                                   diversity=diversity, pool=None)
    return [int(x) for x in ordered] + [i for i in segment_ids if i not in scores]
