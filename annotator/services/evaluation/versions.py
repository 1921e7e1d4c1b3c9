"""The saved model versions of each kind side by side, as ``annotator report`` shows them: every
one scored again, now, on its kind's current test side (``sides.tested_on``: the project's test
segments for frames, every segment of the test speeches for slogan spans, the test speeches
with speech labels for frames for whole speeches), so that two versions are compared on the
same items (a version's recorded score is on the test side of its own training time, which
grows as the project labels more, so recorded scores of two versions do not compare).

Which versions: those that were the active one of their kind at some time (the project's
history of models, ``store.ever_active_versions``), the newest ``newest`` of each kind, and the
active one always. Versions trained and left aside (the quick method not chosen, a version
that scored below the active one) are counted, not scored. A version that cannot be loaded any
more (its folder or weights gone, another label scheme, an error) keeps the score recorded when
it was trained, marked as such. Each is scored by :func:`score_version`, through the one
predictor of its kind (``ml.predictors.load_predictor``) and ``ml.scoring``; the frames
versions read the project's stored sentence embeddings, so that this costs seconds. Training
scores the active version on the new one's test items the same way (:func:`active_on_test`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.model_kinds import FRAMES, SPANS, SPEECH_FRAMES
from annotator.schemes import Scheme
from annotator.services.evaluation.sides import tested_on
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
    scores: dict[str, Any]  # on the current test side, or (``recorded``) those recorded when trained
    recorded: bool = False  # not scored now: ``scores`` are from the test side of its training time
    why: str = ""  # why it was not scored now
    recorded_scores: dict[str, Any] = field(default_factory=dict)  # what training recorded, for comparison

    @property
    def recorded_n(self) -> int | None:
        """The test items behind the recorded scores."""
        from annotator.metrics import scored_items  # (scikit-learn: not on the CLI's start)

        return scored_items(self.recorded_scores)

    def recorded_score(self, key: str) -> float | None:
        """A score recorded when it was trained; None where it was scored on no test item."""
        value = self.recorded_scores.get(key)
        return float(value) if isinstance(value, (int, float)) and self.recorded_n != 0 else None


@dataclass
class KindVersions:
    kind: str
    n_test: int  # the current test side's segments (speeches for ``speech_frames``; whole speeches' for spans)
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
        if not self.n_test:
            return "no current test split"
        if self.kind == SPANS:  # whole speeches: their unlabelled segments too (``sides.kind_sides``)
            return f"the project's current test speeches, every segment ({self.n_test} {self.unit})"
        return f"the project's current test split ({self.n_test} {self.unit})"

    def scored_on(self) -> str:
        """The current test side, in a few words (a table's cell)."""
        what = "current test speeches, every segment" if self.kind == SPANS else "current test split"
        return f"{what} ({self.n_test})"

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
    kind's current test side; kinds without versions are left out."""
    entries = [m for m in store.registered_models() if m["kind"] in KINDS]
    if not entries:
        return {}
    active = store.active_models()
    ever = store.ever_active_versions()
    scheme = scheme or active_scheme(store)
    out: dict[str, KindVersions] = {}
    for kind in KINDS:
        versions = sorted((m for m in entries if m["kind"] == kind), key=_trained_at)
        if not versions:
            continue
        used = [m for m in versions if m["version"] in ever or m["version"] == active.get(kind)]
        shown = used[-max(1, newest):]
        shown += [m for m in used if m["version"] == active.get(kind) and m not in shown]
        shown.sort(key=_trained_at)
        test, unit, note = tested_on(store, scheme, kind)
        group = KindVersions(kind=kind, n_test=len(test or ()), unit=unit, rows=[], note=note,
                             never_active=len(versions) - len(used), older=len(used) - len(shown), newest=newest)
        for m in shown:
            group.rows.append(_score(store, kind, m, test, scheme, active.get(kind) == m["version"], note))
        out[kind] = group
    return out


def _trained_at(entry: dict[str, Any]) -> str:
    return str(entry["meta"].get("created_at") or entry["registered_at"])


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
            row.scores = score_version(store, kind, Path(entry["path"]), test)
            row.recorded, row.why = False, ""
            row.scores["seconds"] = time.perf_counter() - started
        except Exception as exc:  # weights removed, an old format, no encoder here: the recorded score stays
            row.why = "could not be loaded: " + " ".join(str(exc).split())
    return row


def score_version(store: Store, kind: str, folder: Path, test: list) -> dict[str, Any]:
    """A saved version's scores on ``test`` (segments, or speeches for frames for whole speeches),
    through the predictor suggestion uses, reading the project's stored embeddings as suggestion
    does."""
    from annotator.ml.predictors import load_predictor
    from annotator.ml.scoring import evaluate_frames, evaluate_spans, evaluate_speech_frames
    from annotator.services.suggest import use_embedding_cache

    predictor = load_predictor(kind, folder)
    use_embedding_cache(store, predictor)  # frames over embeddings read the project's stored ones
    if kind == FRAMES:
        return evaluate_frames(predictor, test)
    if kind == SPANS:
        return evaluate_spans(predictor, test)
    return evaluate_speech_frames(predictor, test)


def active_on_test(store: Store, kind: str, test: list, unless: str = "") -> tuple[str, dict[str, Any]]:
    """The active version of ``kind`` and its scores on ``test``, the items a new version was
    scored on (nothing if it is ``unless``; ``{"error": ...}`` where it cannot be scored: a broken
    old version must not cost the new one)."""
    previous = store.active_models().get(kind, "")
    if not previous or previous == unless:
        return "", {}
    entry = store.registered_model(previous)
    if entry is None:
        return previous, {"error": "not registered"}
    folder = Path(entry["path"])
    if not folder.is_dir():
        return previous, {"error": f"its folder {folder} is gone"}
    try:
        return previous, score_version(store, kind, folder, test)
    except Exception as exc:  # a broken old version must not cost the new one
        return previous, {"error": f"could not evaluate: {exc}"}
