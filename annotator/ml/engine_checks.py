"""Which precision of the inference engine a quick model version predicts through, on this CPU.

A version's check is made at training, on labelled segments (its dev segments first, then train
ones, up to ``CHECK_TEXTS``): its score there with the encoder in float32 PyTorch is the
reference, and each precision CTranslate2 offers here (fastest first) is tried until one scores
within noise of it: at most ``MIN_TOLERANCE`` under it, or twice the standard error of the
paired difference over bootstrap resamples of the segments where that is more. The slogan
tagger, whose token states move most under int8, has its token and span thresholds tuned again
on the engine's own dev states (the head as it is) at each precision tried: the tuned thresholds
are kept where they score better than those fitted on float32 (or pass where those do not), and
the precision passes if what is kept scores within noise. The first precision that passes is the one the version runs at
(``model.engine`` pinned to ``ct2-<precision>``); where none does, PyTorch. The record goes to the
version's ``meta.json`` (``engine``), with one line saying what was chosen and why.

A version saved before these checks, with no labelled segments at hand, is checked once on
first use on the probe sentences by how many of its decisions each precision leaves as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.metrics import label_matrix, span_scores
from annotator.ml import engine
from annotator.ml.engine import (
    BOOTSTRAP_SAMPLES,
    CHECK_TEXTS,
    FLOAT32,
    MIN_FRAMES_UNCHANGED,
    MIN_SPANS_UNCHANGED,
    MIN_TOLERANCE,
    PROBE_TEXTS,
)
from annotator.model_kinds import FRAMES, SPANS
from annotator.thresholds import DEFAULT_THRESHOLD, reaches_matrix

METRIC = {FRAMES: "micro_f1", SPANS: "partial_f1"}


def span_agreement(a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]]) -> float:
    """The share of spans the two sides hold alike, over all documents: exact-match F1 between
    them (Dice: 2|A∩B| / (|A| + |B|); 1 when neither has any), so that a span one side has and
    the other lacks counts once, whichever side has it."""
    both = total = 0
    for x, y in zip(a, b):
        sx, sy = set(map(tuple, x)), set(map(tuple, y))
        both += len(sx & sy)
        total += len(sx) + len(sy)
    return 2 * both / total if total else 1.0


def decisions(model: Any, kind: str, texts: Sequence[str]) -> Any:
    """The version's decisions on ``texts`` under its current ``engine``: a texts x labels
    matrix of ticks (frames; each segment on its own, its context would cost the encoder its
    whole speech), or each text's spans."""
    if kind == SPANS:
        return model.predict_tuples(list(texts))
    from annotator.ml.context import predict_scores

    scores = predict_scores(model, list(texts), None)
    return reaches_matrix(scores, [model.thresholds.get(label, DEFAULT_THRESHOLD) for label in model.labels])


def unchanged(kind: str, reference: Any, ours: Any) -> float:
    """The share of the reference's decisions the other side leaves as they are."""
    if kind == SPANS:
        return span_agreement(reference, ours)
    return float((reference == ours).mean()) if reference.size else 1.0


def scorer(kind: str, model: Any, examples: Sequence[Any]) -> Callable[[Any, np.ndarray], float]:
    """``score(decisions, rows)``: the version's metric (frames: micro-F1; spans: partial-overlap
    F1) on the ``rows`` of ``examples`` (repeats count again, as a bootstrap resample needs)."""
    if kind == SPANS:
        known = set(model.span_labels)
        gold = [[s for s in ex.spans if s[2] in known] for ex in examples]

        def spans(found: Any, rows: np.ndarray) -> float:
            return float(span_scores([gold[i] for i in rows], [found[i] for i in rows])["partial_f1"])

        return spans
    truth = label_matrix((ex.frames for ex in examples), model.labels).astype(bool)

    def frames(ticks: Any, rows: np.ndarray) -> float:
        t, p = truth[rows], np.asarray(ticks, bool)[rows]
        tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0

    return frames


def compare(score: Callable[[Any, np.ndarray], float], reference: Any, ours: Any, n: int) -> dict[str, Any]:
    """The engine's score against the reference's on the same segments, and whether it is
    within noise: at most ``MIN_TOLERANCE`` under it, or twice the bootstrap standard error of
    the paired difference (``BOOTSTRAP_SAMPLES`` resamples, seeded: the same figures each run)."""
    every = np.arange(n)
    ref, our = score(reference, every), score(ours, every)
    rng = np.random.default_rng(0)
    diffs = [score(reference, rows) - score(ours, rows) for rows in rng.integers(0, n, (BOOTSTRAP_SAMPLES, n))]
    tolerance = max(MIN_TOLERANCE, 2 * float(np.std(diffs)))
    return {"score": round(our, 4), "float32": round(ref, 4), "tolerance": round(tolerance, 4),
            "passed": ref - our <= tolerance + 1e-9}


def walk_precisions(model: Any, kind: str, texts: Sequence[str],
                    judge: Callable[[str, Any, Any], dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """The version's decisions on ``texts`` with float32 PyTorch, then at each precision
    CTranslate2 offers here, fastest first, until ``judge(precision, reference, ours)`` says
    ``passed``: what each precision tried gave, and the one that passed (None: none did).
    The model's ``engine`` is left as it was."""
    saved = model.engine
    tried: dict[str, Any] = {}
    try:
        model.engine = FLOAT32
        reference = decisions(model, kind, texts)
        for precision in engine.precisions():
            model.engine = f"ct2-{precision}"
            tried[precision] = judge(precision, reference, decisions(model, kind, texts))
            if tried[precision]["passed"]:
                return tried, precision
    finally:
        model.engine = saved
    return tried, None


def engine_can_run(model: Any, kind: str, texts: Sequence[str]) -> bool:
    """Whether the version's encoder has a conversion to run (else the engine said why)."""
    if getattr(model, "encoder_dir", None) is None or not texts or engine.ct2_missing():
        return False
    layers = getattr(model, "layers", None) if kind == SPANS else None
    return not engine.encoder_runner(model.encoder_dir, layers, None, texts=texts).name.startswith("torch")


def check_version(model: Any, kind: str, dev: Sequence[Any], train: Sequence[Any] = ()) -> dict[str, Any] | None:
    """Choose the precision a quick version (``kind``: ``frames`` or ``spans``) runs at on this
    CPU, on its labelled ``dev`` segments and then ``train`` ones (up to ``CHECK_TEXTS``), pin
    the model to it, and return the record (None where the process runs PyTorch anyway)."""
    examples = [*dev, *train][:CHECK_TEXTS]
    texts = [ex.text for ex in examples]
    if engine.engine_setting() == "torch" or not engine_can_run(model, kind, texts):
        return None
    score = scorer(kind, model, examples)
    tune = kind == SPANS and hasattr(model, "calibrate") and any(ex.spans for ex in dev)

    def judge(precision: str, reference: Any, ours: Any) -> dict[str, Any]:
        entry = {**compare(score, reference, ours, len(texts)), "unchanged": round(unchanged(kind, reference, ours), 4)}
        if tune:
            model.calibrate(dev, precision)  # thresholds tuned on this precision's own dev states
            tuned = compare(score, reference, decisions(model, kind, texts), len(texts))
            # kept where they score better, or pass where the thresholds fitted on float32 do not
            tuned["used"] = tuned["score"] > entry["score"] or (tuned["passed"] and not entry["passed"])
            entry["calibrated"] = tuned
            if tuned["used"]:
                entry["passed"] = tuned["passed"]
            else:
                model.engine_thresholds.pop(precision, None)
        return entry

    tried, chosen = walk_precisions(model, kind, texts, judge)
    if hasattr(model, "engine_thresholds"):  # only the precision it runs at keeps tuned thresholds
        model.engine_thresholds = {p: t for p, t in model.engine_thresholds.items() if p == chosen}
    record = {"cpu": engine.cpu_signature(), "precision": chosen, "metric": METRIC[kind], "checked_on": len(texts),
              "dev": min(len(dev), len(texts)), "tried": tried, "passed": chosen is not None}
    record["line"] = choice_line(kind, record)
    pin(model, record)
    return record


def choice_line(kind: str, record: dict[str, Any]) -> str:
    """What a check chose and why, in one line."""
    metric = record["metric"].replace("_", " ").replace("micro f1", "micro-F1").replace("partial f1", "partial F1")
    on = f"{record['checked_on']} labelled segments ({record['dev']} dev)"
    parts = []
    for precision, entry in record["tried"].items():
        tuned = entry.get("calibrated")
        figure = f"{precision} {entry['score']:.3f}"
        if tuned and tuned.get("used", True):
            figure += f" ({tuned['score']:.3f} with thresholds tuned on its own dev states, used)"
        parts.append(figure)
    first = next(iter(record["tried"].values()), None)
    reference = f"float32 {first['float32']:.3f}" if first else ""
    noise = f"noise ±{first['tolerance']:.3f}" if first else ""
    if record["precision"]:
        verdict = f"runs in CTranslate2 {record['precision']}"
    else:
        verdict = "runs in PyTorch, as no precision of CTranslate2 scores within noise of float32"
    return f"{kind}: {verdict} ({metric} on {on}: {reference}; {', '.join(parts)}; {noise})"


def pin(model: Any, record: dict[str, Any]) -> None:
    """Run the version as its check says: at the chosen precision, or in PyTorch. A record made
    before precisions were chosen (``passed`` only) leaves a passing version to the process's
    engine."""
    if "precision" not in record:
        if not record.get("passed", True):
            model.engine = "torch"
        return
    model.engine = f"ct2-{record['precision']}" if record["precision"] else "torch"


def gate_version(model: Any, kind: str, folder: Path, texts: Sequence[str] = PROBE_TEXTS) -> None:
    """Let a loaded quick version run as its check says (``meta.json``'s ``engine``), or, for a
    version saved before these checks, as a check made now on ``texts`` says. Where the check
    pins PyTorch, a note says why; where a precision it chose does not run on this CPU, the
    process's engine runs it."""
    from annotator.ml.registry import add_meta_extra, read_meta

    if engine.engine_setting() == "torch" or getattr(model, "encoder_dir", None) is None:
        return
    recorded = (read_meta(folder).extra or {}).get("engine")
    if recorded is None:
        recorded = agreement_check(model, kind, texts)
        if recorded is None:
            return
        try:
            add_meta_extra(folder, engine=recorded)
        except OSError:
            pass  # a read-only models folder: checked again next time
    precision = recorded.get("precision")
    if precision and engine.ct2_missing() == "" and precision not in engine.precisions():
        engine.note(f"version:{folder}", f"engine: {folder.name} was checked at {precision}, which CTranslate2 does "
                                         "not run on this CPU: the process's engine runs it")
        return
    pin(model, recorded)
    if model.engine == "torch":
        why = recorded.get("line") or "; ".join(recorded.get("failures") or [])
        engine.note(f"version:{folder}", f"engine: PyTorch for {folder.name}, because the engine changes its "
                                         f"suggestions too much ({why})")


def agreement_check(model: Any, kind: str, texts: Sequence[str]) -> dict[str, Any] | None:
    """For a version with no labelled segments at hand: the fastest precision that leaves
    ``MIN_FRAMES_UNCHANGED`` of its frame decisions (``MIN_SPANS_UNCHANGED`` of its spans) on
    ``texts`` as float32 PyTorch makes them."""
    texts = list(texts)
    if not engine_can_run(model, kind, texts):
        return None
    bar = MIN_SPANS_UNCHANGED if kind == SPANS else MIN_FRAMES_UNCHANGED

    def judge(_precision: str, reference: Any, ours: Any) -> dict[str, Any]:
        share = unchanged(kind, reference, ours)
        return {"unchanged": round(share, 4), "passed": share >= bar}

    tried, chosen = walk_precisions(model, kind, texts, judge)
    shares = ", ".join(f"{p} {t['unchanged']:.1%}" for p, t in tried.items())
    line = (f"{kind}: {'runs in CTranslate2 ' + chosen if chosen else 'runs in PyTorch'}: decisions unchanged "
            f"from float32 on {len(texts)} probe texts: {shares} (bar {bar:.0%})")
    return {"cpu": engine.cpu_signature(), "precision": chosen, "metric": "unchanged", "checked_on": len(texts),
            "tried": tried, "passed": chosen is not None, "line": line}
