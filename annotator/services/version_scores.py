"""The saved model versions of each kind side by side, as ``annotator report`` shows them: every
one scored again, now, on the project's current test split, so that two versions are compared
on the same segments (a version's recorded score is on the test split of its own training
time, which grows as the project labels more, so recorded scores of two versions do not
compare).

Which versions: those that were the active one of their kind at some time (the project's
history of models, ``store.ever_active_versions``), the newest ``newest`` of each kind, and the
active one always. Versions trained and left aside (the quick method not chosen, a version
that scored below the active one) are counted, not scored. A version that cannot be loaded any
more (its folder or weights gone, another label scheme, an error) keeps the score recorded when
it was trained, marked as such. Each is scored through the one predictor of its kind
(``ml.predictors.load_predictor``) by ``ml.train.evaluate_frames`` / ``evaluate_spans`` (and
``ml.speech_frames.evaluate_speech_frames`` for whole speeches); the frames versions read the
project's stored sentence embeddings, so that this costs seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.model_kinds import FRAMES, SPANS, SPEECH_FRAMES
from annotator.schemes import Scheme
from annotator.services.models import active_scheme
from annotator.store import Store

DEFAULT_NEWEST = 8  # versions per kind scored again by default (`annotator report --versions N`)
KINDS = (FRAMES, SPANS, SPEECH_FRAMES)
# the figures shown per kind: the headline one first
SCORE_KEYS = {FRAMES: ("micro_f1", "macro_f1"), SPANS: ("partial_f1", "exact_f1"),
              SPEECH_FRAMES: ("micro_f1", "macro_f1")}
SCORE_NAMES = {"micro_f1": "micro-F1", "macro_f1": "macro-F1", "partial_f1": "partial F1", "exact_f1": "exact F1"}
KIND_NAMES = {FRAMES: "frames", SPANS: "slogan spans", SPEECH_FRAMES: "frames for whole speeches"}


@dataclass
class VersionScore:
    version: str
    method: str
    trained_at: str  # ISO time
    active: bool  # the active version of its kind now
    scores: dict[str, Any]  # on the current test split, or (``recorded``) those recorded when trained
    recorded: bool = False  # not scored now: ``scores`` are from the test split of its training time
    why: str = ""  # why it was not scored now
    recorded_scores: dict[str, Any] = field(default_factory=dict)  # what training recorded, for comparison

    @property
    def recorded_n(self) -> int | None:
        """The test items behind the recorded scores."""
        from annotator.services.training import scored_items

        return scored_items(self.recorded_scores)

    def recorded_score(self, key: str) -> float | None:
        """A score recorded when it was trained; None where it was scored on no test item."""
        value = self.recorded_scores.get(key)
        return float(value) if isinstance(value, (int, float)) and self.recorded_n != 0 else None


@dataclass
class KindVersions:
    kind: str
    n_test: int  # the current test split's segments (speeches for ``speech_frames``)
    unit: str  # "segments" | "speeches"
    rows: list[VersionScore]  # oldest first
    never_active: int = 0  # versions trained and never made active: not shown
    older: int = 0  # versions once active, older than the newest ``newest``: not shown
    newest: int = DEFAULT_NEWEST
    note: str = ""  # why nothing was scored now, if so

    @property
    def keys(self) -> tuple[str, str]:
        return SCORE_KEYS[self.kind]  # type: ignore[return-value]

    def test_set(self) -> str:
        """Which test set the scores are on, in words."""
        return (f"the project's current test split ({self.n_test} {self.unit})" if self.n_test
                else "no current test split")

    def left_out(self) -> list[str]:
        """What is not shown, and how to see it."""
        out = []
        if self.older:
            many = self.older != 1
            out.append(f"{self.older} older version{'s that were' if many else ' that was'} active once "
                       f"(`annotator report --versions {self.newest + self.older}` scores {'them' if many else 'it'} "
                       "too)")
        if self.never_active:
            out.append(f"{self.never_active} version{'s' if self.never_active != 1 else ''} trained and never "
                       "made active (`annotator models list` shows every version)")
        return out


def score_versions(store: Store, newest: int = DEFAULT_NEWEST, scheme: Scheme | None = None) -> dict[str, KindVersions]:
    """Per kind with saved versions, the versions shown (see the module's text), scored on the
    project's current test split; kinds without versions are left out."""
    entries = [m for m in store.registered_models() if m["kind"] in KINDS]
    if not entries:
        return {}
    active = store.active_models()
    ever = store.ever_active_versions()
    scheme = scheme or active_scheme(store)
    tests = _TestSets(store, scheme)
    out: dict[str, KindVersions] = {}
    for kind in KINDS:
        versions = sorted((m for m in entries if m["kind"] == kind), key=_trained_at)
        if not versions:
            continue
        used = [m for m in versions if m["version"] in ever or m["version"] == active.get(kind)]
        shown = used[-max(1, newest):]
        shown += [m for m in used if m["version"] == active.get(kind) and m not in shown]
        shown.sort(key=_trained_at)
        test, unit, note = tests.get(kind)
        group = KindVersions(kind=kind, n_test=len(test or ()), unit=unit, rows=[], note=note,
                             never_active=len(versions) - len(used), older=len(used) - len(shown), newest=newest)
        for m in shown:
            group.rows.append(_score(store, kind, m, test, scheme, active.get(kind) == m["version"], note))
        out[kind] = group
    return out


def _trained_at(entry: dict[str, Any]) -> str:
    return str(entry["meta"].get("created_at") or entry["registered_at"])


class _TestSets:
    """The current test split of segments and of speeches, each read once, when first asked for."""

    def __init__(self, store: Store, scheme: Scheme) -> None:
        self.store, self.scheme = store, scheme
        self._found: dict[str, tuple[list | None, str, str]] = {}

    def get(self, kind: str) -> tuple[list | None, str, str]:
        """(test items or None, their unit, why there are none)."""
        key = "speeches" if kind == SPEECH_FRAMES else "segments"
        if key not in self._found:
            self._found[key] = self._speeches() if key == "speeches" else self._segments()
        return self._found[key]

    def _segments(self) -> tuple[list | None, str, str]:
        from annotator.services.training import gold_examples, split

        examples = gold_examples(self.store, self.scheme)
        if not examples:
            return None, "segments", "no labelled segments yet"
        try:
            return split(self.store, examples)[2], "segments", ""
        except Exception as exc:  # too few labelled speeches for a test split
            return None, "segments", str(exc)

    def _speeches(self) -> tuple[list | None, str, str]:
        from annotator.services.speech_docs import gold_speech_docs, split_speech_docs

        docs = gold_speech_docs(self.store, self.scheme)
        test = split_speech_docs(self.store, docs)[2] if docs else []
        return (test or None), "speeches", "" if test else "no test speech with speech labels yet"


def _score(store: Store, kind: str, entry: dict[str, Any], test: list | None, scheme: Scheme, active: bool,
           note: str) -> VersionScore:
    meta = entry["meta"]
    recorded = dict(meta.get("metrics") or {})
    row = VersionScore(version=entry["version"], method=str(meta.get("method") or ""), trained_at=_trained_at(entry),
                       active=active, scores=recorded, recorded=True, recorded_scores=recorded)
    if row.recorded_n == 0:  # scored on nothing when trained: no score to show, not a score of 0
        row.scores = {}
    if not test:
        row.why = note or "no current test split"
    elif meta.get("scheme") and meta["scheme"] != scheme.name:
        row.why = f"trained on another label scheme ({meta['scheme']})"
    elif not (Path(entry["path"]) / "meta.json").is_file():
        row.why = f"its folder {entry['path']} is gone"
    else:
        started = time.perf_counter()
        try:
            row.scores = _evaluate(store, kind, Path(entry["path"]), test)
            row.recorded, row.why = False, ""
            row.scores["seconds"] = time.perf_counter() - started
        except Exception as exc:  # weights removed, an old format, no encoder here: the recorded score stays
            row.why = "could not be loaded: " + " ".join(str(exc).split())
    return row


def _evaluate(store: Store, kind: str, folder: Path, test: list) -> dict[str, Any]:
    from annotator.ml.predictors import load_predictor
    from annotator.services.suggest import use_embedding_cache

    predictor = load_predictor(kind, folder)
    use_embedding_cache(store, predictor)  # frames over embeddings read the project's stored ones
    if kind == FRAMES:
        from annotator.ml.train import evaluate_frames

        return evaluate_frames(predictor, test)
    if kind == SPANS:
        from annotator.ml.train import evaluate_spans

        return evaluate_spans(predictor, test)
    from annotator.ml.speech_frames import evaluate_speech_frames

    return evaluate_speech_frames(predictor, test)
