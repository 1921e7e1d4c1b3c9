"""``annotator report``: scores per label and across model versions, as text and an HTML page.

Everything is on the project's current test split: the saved versions that were active at some
time, each scored again now (``services.evaluation.versions``; one that cannot be loaded keeps its
recorded score, marked), and ``services.evaluation``'s figures: the active version against a
majority and a TF-IDF baseline (overall, per language, per label, with the number of test
items; a label without test items says so rather than scoring 0), a learning curve (score
against the number of labels) and the cross-lingual transfer. The page has them as tables and
embeds the plots (matplotlib, PNG): the versions, F1 per label, the learning curve. A linguist
can paste any of them in a paper.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from annotator.metrics import scored_items
from annotator.model_kinds import FRAMES, SPANS, SPEECH_FRAMES
from annotator.services.evaluation.frames import MAJORITY, TFIDF, FramesEvaluation, evaluate_project_frames
from annotator.services.evaluation.spans import SpansEvaluation, evaluate_project_spans
from annotator.services.evaluation.speeches import SpeechFramesResult
from annotator.services.evaluation.versions import KIND_NAMES, SCORE_NAMES, KindVersions, score_versions
from annotator.services.models import active_scheme
from annotator.store import Store


def text_report(store: Store, evaluation: FramesEvaluation | None | bool = True,
                spans: SpansEvaluation | None | bool = True, speeches: SpeechFramesResult | None = None,
                versions: dict[str, KindVersions] | bool = True) -> str:
    """The report as text. ``evaluation``: a computed ``FramesEvaluation`` (or None where the
    project has none), True to compute it here, False to leave the learning curve and the
    transfer out of it; ``spans``: a computed ``SpansEvaluation``, True to compute it here,
    None or False to leave the spans baselines out; ``speeches``: the speech-level figures
    (:func:`report_speech_frames`), if any; ``versions``: the saved versions scored on the
    current test side of their kind (``services.evaluation.versions``), True to score
    them here, False to leave them out."""
    evaluation = _evaluation(store, evaluation)
    spans = evaluate_project_spans(store) if spans is True else spans or None
    versions = _versions(store, versions)
    lines: list[str] = []
    for group in versions.values():
        lines.extend(version_lines(group))
    if evaluation is not None:
        lines.extend(evaluation_lines(evaluation))
    else:
        frames = _active_frames_metrics(store)
        if frames.get("per_label"):
            scheme = active_scheme(store)
            lines.append("")
            lines.append("frames per label of the active version (on its own test split when it was trained):")
            lines.append(f"  {'label':<46} {'n test':>6} {'P':>6} {'R':>6} {'F1':>6}")
            for label, s in frames["per_label"].items():
                support = int(s.get("support", 0))
                lines.append(f"  {scheme.display_name(label):<46} {support:6d} " + (f"{s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f}"
                                                               if support else NO_TEST_ITEMS))
    if spans is not None:
        lines.extend(span_baseline_lines(spans))
    if speeches is not None:
        lines.extend(speech_lines(speeches))
    return "\n".join(lines).lstrip("\n") if lines else "no evaluated model versions yet: run `annotator train`"


NO_TEST_ITEMS = "no test items: no F1"


def report_speech_frames(store: Store) -> SpeechFramesResult | None:
    """The report's speech-level figures: the candidates fitted as ``annotator train`` fits them
    (not saved) and scored on the test speeches beside the baselines
    (``services.speech_training.speech_frames_result``); None without speech labels. The scheme
    is the active frames version's; a failure is one note, never the report's end."""
    from annotator.services.speech_training import speech_frames_result

    active = store.active_models()
    scheme = active_scheme(store)
    try:
        result = speech_frames_result(store, scheme)
    except Exception as exc:  # no encoder on this machine, a broken version: the rest still shows
        return SpeechFramesResult(sizes={}, candidates=[], majority={}, notes=[f"not computed: {exc}"])
    if result is not None and active.get(SPEECH_FRAMES):
        result.notes.append(f"active speech frames version: {active[SPEECH_FRAMES]}")
    return result


def _versions(store: Store, versions: dict[str, KindVersions] | bool) -> dict[str, KindVersions]:
    if versions is True:
        return score_versions(store)
    return versions or {}


def _score_cells(group: KindVersions, scores: dict[str, Any]) -> str:
    first, second = group.keys
    text = f"{SCORE_NAMES[first]} {_f(scores.get(first), 5)}"
    if group.kind == SPANS:
        text += f" (P {_f(scores.get('partial_precision'), 5)} R {_f(scores.get('partial_recall'), 5)})"
    return text + f"  {SCORE_NAMES[second]} {_f(scores.get(second), 5)}"


def version_lines(group: KindVersions) -> list[str]:
    """The versions of one kind that were active at some time, each scored now on the current
    test split (or, marked, with the score recorded when it was trained)."""
    if not group.rows:
        return ["", f"{KIND_NAMES[group.kind]} versions: none was ever active"] + [
            f"    not shown: {left}" for left in group.left_out()]
    scored_on = (f"each scored now on {group.test_set()}" if group.n_test
                 else f"not scored now ({group.note or 'no current test split'})")
    lines = ["", f"{KIND_NAMES[group.kind]} versions, {scored_on}; only those that were active at some time, "
                 "oldest first; * active:"]
    width = max(len(row.version) for row in group.rows)
    first = group.keys[0]
    for row in group.rows:
        n = row.recorded_n
        own = f"its own test split{f' of {n}' if n is not None else ''}"
        head = f"  {'*' if row.active else ' '} {row.version:<{width}}  {row.method:<9} {_score_cells(group, row.scores)}"
        if row.recorded and n == 0:
            lines.append(f"{head}   no score: it was scored on 0 test {group.unit} when trained"
                         + (f" (not scored now: {row.why})" if group.n_test else ""))
        elif row.recorded:
            lines.append(f"{head}   RECORDED when trained, on {own}"
                         + (f" (not scored now: {row.why})" if group.n_test else ""))
        else:
            lines.append(f"{head}   (when trained: {_f(row.recorded_score(first), 5)} on {own})")
    for left in group.left_out():
        lines.append(f"    not shown: {left}")
    return lines


SPEECH_NAMES = {"aggregate": "aggregate", "linear": "speech model"}  # a candidate's row, by its method
SPEECH_TFIDF = "TF-IDF + logistic regression"


def speech_rows(result: SpeechFramesResult) -> list[tuple[str, dict[str, Any], str]]:
    """(name, test scores, what it is) of each candidate, then the two baselines: TF-IDF +
    logistic regression over whole speeches and the k commonest frames (majority)."""
    return [(SPEECH_NAMES.get(c.method, c.method), c.metrics, c.description) for c in result.candidates] + [
        (SPEECH_TFIDF, result.tfidf, "over each speech's whole text, fitted on the train speeches, tuned on dev"),
        (f"{MAJORITY} ({result.majority_name})", result.majority,
         f"every speech gets the {result.majority_k} frames most train speeches carry")]


def _margin(name: str, metrics: dict[str, Any], baselines: list[tuple[str, dict[str, Any]]], key: str,
            what: str, items: str) -> str:
    """One line: a model's score against the better of the baselines, on the same test items."""
    mine = _scored(metrics, key)
    scored = [(n, v) for n, m in baselines if (v := _scored(m, key)) is not None]
    if mine is None or not scored:
        return ""
    best, value = max(scored, key=lambda nv: nv[1])
    return (f"{name} {what} {mine:.3f}, the better baseline ({best}) {value:.3f}: {mine - value:+.3f} on the same "
            f"{items}")


def speech_margin(result: SpeechFramesResult) -> str:
    """The candidate chosen by dev against the better baseline, on the test speeches."""
    if result.chosen is None:
        return ""
    n = result.sizes.get("test", 0)
    return _margin(f"{SPEECH_NAMES.get(result.chosen.method, result.chosen.method)} (chosen by dev):",
                   result.chosen.metrics, [(SPEECH_TFIDF, result.tfidf), (MAJORITY, result.majority)],
                   "micro_f1", "test micro-F1", f"{n} test speech{'es' if n != 1 else ''}")


def speech_lines(result: SpeechFramesResult) -> list[str]:
    """Frames for whole speeches: each way's micro/macro F1 on the test speeches beside TF-IDF
    over whole speeches and the k commonest frames."""
    n = result.sizes.get("test", 0)
    lines = ["", f"frames for whole speeches (the project's test speeches with speech labels: {n}, "
                 f"trained on {result.sizes.get('train', 0)}, tuned on {result.sizes.get('dev', 0)}):"]
    if result.majority:
        rows = speech_rows(result)
        width = max(len("n test speeches"), *(len(name) for name, _, _ in rows))
        lines.append(f"  {'':<{width}} {'micro-F1':>8} {'macro-F1':>8}")
        for name, metrics, _ in rows:
            lines.append(f"  {name:<{width}} {_f(_scored(metrics, 'micro_f1'), 8)} {_f(_scored(metrics, 'macro_f1'), 8)}")
        lines.append(f"  {'n test speeches':<{width}} {n:8d}")
        lines += [f"  ({name}: {what})" for name, _, what in rows]
        margin = speech_margin(result)
        if margin:
            lines.append(f"  {margin}")
    lines += [f"  {note}" for note in result.notes]
    return lines


def _evaluation(store: Store, evaluation: FramesEvaluation | None | bool) -> FramesEvaluation | None:
    if isinstance(evaluation, bool):
        return evaluate_project_frames(store, curves=evaluation)
    return evaluation


def _f(value: float | None, width: int = 6) -> str:
    return f"{value:{width}.3f}" if isinstance(value, (int, float)) else f"{'-':>{width}}"


def _scored(metrics: dict[str, Any], key: str) -> float | None:
    """A score, or None where there is none: not computed, or computed on no test item (an F1
    of nothing, which is not an F1 of 0)."""
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) and scored_items(metrics) != 0 else None


def _label_f1(ev: FramesEvaluation, name: str, label: str) -> float | None:
    """A row's F1 on a label; None where the test split has no segment with it (F1 says nothing
    there) or the model does not know the label."""
    per_label = ev.rows[name]["overall"].get("per_label", {})
    return per_label[label]["f1"] if label in per_label and ev.label_counts["test"][label] else None


def evaluation_lines(ev: FramesEvaluation) -> list[str]:
    """Baselines overall, per language and per label; the learning curve; the transfer."""
    return baseline_lines(ev) + label_lines(ev) + curve_lines(ev) + transfer_lines(ev) + [
        "", f"(frames evaluation computed in {ev.seconds:.1f} s"
            + (f", the learning curve and transfer {ev.curve_seconds:.1f} s of it; `--no-curves` leaves them out)"
               if ev.curve or ev.transfer else ")")]


def baseline_lines(ev: FramesEvaluation) -> list[str]:
    """The active frames version beside the majority and TF-IDF baselines, on the same test split."""
    langs = ev.shown_languages
    lines = ["", f"frames against baselines (the project's test split: {ev.n_test} segments, "
                 f"trained on {ev.n_train}):"]
    lines.append(f"  {'':<48} {'micro-F1':>8} {'macro-F1':>8}" + "".join(f" {lang:>6}" for lang in langs))
    for name, row in ev.rows.items():
        overall = row["overall"]
        lines.append(f"  {name:<48} {overall['micro_f1']:8.3f} {overall['macro_f1']:8.3f}"
                     + "".join(f" {row['per_language'].get(lang, 0.0):6.3f}" for lang in langs))
    lines.append(f"  {'n test segments':<48} {ev.n_test:8d} {'':>8}" + "".join(f" {ev.languages[lang]:6d}" for lang in langs))
    lines.append(f"  (per language: micro-F1, for languages with at least {ev.per_language_min} test segments; "
                 f"test segments per language: {', '.join(f'{k} {v}' for k, v in ev.languages.items())})")
    if ev.note:
        lines.append(f"  {ev.note}")
    return lines


def label_lines(ev: FramesEvaluation) -> list[str]:
    """F1 per label of each of active / majority / TF-IDF, with the test and train items per label."""
    active = ev.active_row
    lines = ["", f"frames per label (F1 on the same test split{'; P and R of the active version' if active else ''}):",
             f"  {'label':<46} {'n test':>6} {'n train':>7}"
             + (f" {'P':>6} {'R':>6} {'active':>6}" if active else "") + f" {'major.':>6} {'tfidf':>6}"]
    for label in ev.labels:
        line = f"  {ev.label_name(label):<46} {ev.label_counts['test'][label]:6d} {ev.label_counts['train'][label]:7d}"
        if not ev.label_counts["test"][label]:  # F1 says nothing here: no row scores 0 for it
            lines.append(f"{line} {NO_TEST_ITEMS}")
            continue
        if active:
            s = ev.rows[active]["overall"].get("per_label", {}).get(label)
            line += f" {_f(s and s['precision'])} {_f(s and s['recall'])} {_f(s and s['f1'])}"
        line += f" {_f(_label_f1(ev, MAJORITY, label))} {_f(_label_f1(ev, TFIDF, label))}"
        lines.append(line)
    missing = [label for label in ev.labels if not ev.label_counts["test"][label]]
    if missing:
        lines.append(f"  ({len(missing)} label{'s' if len(missing) != 1 else ''} with no test segment: "
                     "no F1 for them, which is not an F1 of 0; label more of them)")
    return lines


def _per_speech(ev: SpansEvaluation, n: int, width: int = 0) -> str:
    value = ev.per_speech(n)
    return f"{value:{width}.1f}" if value is not None else f"{'-':>{width}}"


def _spans_test(ev: SpansEvaluation) -> str:
    """The test set of the spans figures, in words."""
    return (f"the project's {ev.n_speeches} test speech{'es' if ev.n_speeches != 1 else ''}, whole: {ev.n_test} "
            f"segments, {ev.n_without} of them without a slogan, each one counted; {ev.n_gold} true spans, "
            f"{_per_speech(ev, ev.n_gold)} per speech")


def span_margin(ev: SpansEvaluation) -> str:
    """The active tagger against the better baseline, on the whole test speeches."""
    active = next((name for name in ev.rows if name.startswith("active: ")), "")
    if not active:
        return ""
    return _margin("the active tagger:", ev.rows[active], [(n, m) for n, m in ev.rows.items() if n != active],
                   "partial_f1", "partial F1", f"{ev.n_speeches} whole test speech{'es' if ev.n_speeches != 1 else ''}")


def span_baseline_lines(ev: SpansEvaluation) -> list[str]:
    """The active slogan tagger beside the known-formulation and quotation baselines, on whole
    test speeches: precision, recall and F1, and the spans suggested per speech."""
    langs = ev.shown_languages
    lines = ["", f"slogan spans against baselines ({_spans_test(ev)}; trained on {ev.n_train} segments):",
             f"  {'':<48} {'partial':>7} {'P':>6} {'R':>6} {'exact':>6} {'spans':>6} {'/speech':>7}"
             + "".join(f" {lang:>6}" for lang in langs)]
    for name, s in ev.rows.items():
        per_language = s.get("per_language", {})
        lines.append(f"  {name:<48} {s['partial_f1']:7.3f} {s['partial_precision']:6.3f} {s['partial_recall']:6.3f} "
                     f"{s['exact_f1']:6.3f} {s['n_pred']:6d} {_per_speech(ev, s['n_pred'], 7)}"
                     + "".join(f" {_f(per_language.get(lang, {}).get('partial_f1'))}" for lang in langs))
    lines.append(f"  (partial: partial-overlap F1, with its precision and recall; exact: exact-match F1; spans: how "
                 f"many were suggested in the test speeches, /speech: per speech, for {ev.n_gold} true ones, "
                 f"{_per_speech(ev, ev.n_gold)} per speech; per language: partial F1 where a language has at least "
                 f"{ev.per_language_min} test segments)")
    margin = span_margin(ev)
    if margin:
        lines.append(f"  {margin}")
    if ev.note:
        lines.append(f"  {ev.note}")
    return lines


def spans_html(ev: SpansEvaluation) -> list[str]:
    langs = ev.shown_languages
    out = [f"<h2>Slogan spans against baselines</h2><p>On whole test speeches, as the tagger suggests: "
           f"{html.escape(_spans_test(ev))} (a span suggested in a segment without a slogan, labelled or not, "
           f"counts against precision); trained on {ev.n_train} segments. Known formulations: the glossary and the "
           "slogans marked in the train and dev speeches, wherever they occur.</p>",
           _table(["", "partial F1", "partial P", "partial R", "exact F1", "exact P", "exact R", "spans",
                   "spans per speech", *[f"{lang} partial F1" for lang in langs]],
                  [[name, s["partial_f1"], s["partial_precision"], s["partial_recall"], s["exact_f1"],
                    s["exact_precision"], s["exact_recall"], s["n_pred"], _per_speech(ev, s["n_pred"]),
                    *[s.get("per_language", {}).get(lang, {}).get("partial_f1") for lang in langs]]
                   for name, s in ev.rows.items()]
                  + [["true spans", None, None, None, None, None, None, ev.n_gold, _per_speech(ev, ev.n_gold),
                      *[None for _ in langs]]])]
    margin = span_margin(ev)
    if margin:
        out.append(f"<p>{html.escape(margin[0].upper() + margin[1:])}.</p>")
    if ev.note:
        out.append(f"<p>{html.escape(ev.note)}</p>")
    return out


def curve_lines(ev: FramesEvaluation) -> list[str]:
    if ev.curve_note:
        return ["", ev.curve_note]
    if not ev.curve:
        return []
    lines = ["", f"learning curve (the quick frames model, {ev.curve_method}, and the TF-IDF baseline trained on "
                 f"nested shares of the train split, drawn by speech; test split of {ev.n_test}):",
             f"  {'share':>5} {'labels':>6} {'speeches':>8} {ev.curve_method + ' micro':>13} {'macro':>6}"
             f" {'tfidf micro':>11} {'macro':>6}"]
    for p in ev.curve:
        lines.append(f"  {p.fraction:5.0%} {p.n_train:6d} {p.n_speeches:8d} {p.model['micro_f1']:13.3f} "
                     f"{p.model['macro_f1']:6.3f} {p.tfidf['micro_f1']:11.3f} {p.tfidf['macro_f1']:6.3f}")
    return lines


def transfer_lines(ev: FramesEvaluation) -> list[str]:
    if not ev.transfer:
        return []
    lines = ["", f"cross-lingual transfer (micro-F1 of the {ev.curve_method} model on a language's test segments, "
                 "trained on every train label, or trained and tuned without that language's labels):",
             f"  {'language':<8} {'n test':>6} {'n train':>7} {'others':>6} {'all':>6} {'without':>7} {'change':>7}"
             f" {'major.':>6}"]
    for t in ev.transfer:
        change = None if t.without is None else t.without - t.with_all
        lines.append(f"  {t.language:<8} {t.n_test:6d} {t.n_train_language:7d} {t.n_train_others:6d} "
                     f"{t.with_all:6.3f} {_f(t.without, 7)} {'' if change is None else f'{change:+7.3f}':>7} "
                     f"{t.majority:6.3f}")
    lines.append("  (without: what the other languages' labels alone give; major.: the majority baseline)")
    return lines


def _active_frames_metrics(store: Store) -> dict[str, Any]:
    """The active frames version's scores recorded when it was trained."""
    entry = store.registered_model(store.active_models().get(FRAMES))
    return (entry["meta"].get("metrics") or {}) if entry is not None else {}


def _plain(text: str) -> str:
    """A string matplotlib draws as it is (``$`` would start mathtext)."""
    return str(text).replace("$", r"\$")


def plots(store: Store, evaluation: FramesEvaluation | None | bool = True,
          versions: dict[str, KindVersions] | bool = True) -> dict[str, bytes]:
    """The report's figures as PNG bytes: F1 per label, the learning curve, the versions."""
    plt = _pyplot()
    evaluation = _evaluation(store, evaluation)
    out: dict[str, bytes] = {}
    if evaluation is not None:
        out["f1_per_label.png"] = _png_bytes(plt, label_figure(evaluation))
        if evaluation.curve:
            out["learning_curve.png"] = _png_bytes(plt, curve_figure(evaluation))
    else:
        frames = _active_frames_metrics(store)
        if frames.get("per_label"):
            per_label = frames["per_label"]
            labels = list(per_label)
            scheme = active_scheme(store)
            support = {lab: int(per_label[lab].get("support", 0)) for lab in labels}
            fig, ax = plt.subplots(figsize=(7, 0.4 * len(labels) + 1.5))
            ys = list(range(len(labels)))
            f1 = [per_label[lab]["f1"] if support[lab] else None for lab in labels]
            ax.barh(ys, [v or 0.0 for v in f1], color="#4c72b0")
            _mark_zero_bars(ax, ys, f1, "#4c72b0")
            _mark_no_test_items(ax, ys, [support[lab] for lab in labels])
            ax.set_yticks(ys, [_plain(f"{scheme.display_name(lab)}  n={support[lab]}") for lab in labels])
            ax.set_xlim(0, 1)
            ax.set_xlabel("F1 on the active version's own test split when it was trained (n: its test segments "
                          "with the label)", fontsize="small")
            ax.set_title(_plain(f"Frames: F1 per label, {store.active_models().get(FRAMES)}"))
            ax.invert_yaxis()
            out["f1_per_label.png"] = _png_bytes(plt, fig)
    groups = [g for g in _versions(store, versions).values() if g.rows]
    if groups:
        out["versions.png"] = _png_bytes(plt, versions_figure(groups))
    return out


def _pyplot():
    """matplotlib's pyplot, drawing into images (no window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png_bytes(plt, fig) -> bytes:
    """The figure as a PNG, and closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _mark_no_test_items(ax, ys, counts) -> None:
    """Say "no test items" where a bar would otherwise read as F1 = 0."""
    for y, n in zip(ys, counts):
        if not n:
            ax.text(0.01, y, "no test items: no F1", va="center", ha="left", fontsize="small", color="grey",
                    style="italic")


ZERO_MARKER = "zero F1"  # the gid of the mark drawn where a bar has F1 = 0


def _mark_zero_bars(ax, ys, values, color) -> None:
    """A bar of F1 = 0 has no width: draw a mark at 0 in its colour instead, so that a score of
    0 is seen (and not taken for a missing bar). ``values``: None where there is no F1."""
    for y, value in zip(ys, values):
        if value is not None and value == 0:
            ax.plot([0.0], [y], marker="D", markersize=4, color=color, linestyle="none", clip_on=False, zorder=3,
                    gid=ZERO_MARKER)
            ax.text(0.012, y, "0", va="center", ha="left", fontsize="x-small", color=color)


def label_figure(ev: FramesEvaluation):
    """F1 per label of the active version and the baselines, with each label's test items (n);
    a label with none says so instead of showing bars of 0."""
    import numpy as np

    plt = _pyplot()
    names = [n for n in (ev.active_row, TFIDF, MAJORITY) if n]
    counts = [ev.label_counts["test"][lab] for lab in ev.labels]
    ys = np.arange(len(ev.labels))
    height = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(ev.labels) + 1.5))
    for i, name in enumerate(names):
        f1 = [_label_f1(ev, name, lab) for lab in ev.labels]
        bars = ax.barh(ys + i * height, [v or 0.0 for v in f1], height, label=_plain(name))
        _mark_zero_bars(ax, ys + i * height, f1, bars.patches[0].get_facecolor() if bars.patches else None)
    middle = ys + height * (len(names) - 1) / 2
    _mark_no_test_items(ax, middle, counts)
    ax.set_yticks(middle, [_plain(f"{ev.label_name(lab)}  n={n}") for lab, n in zip(ev.labels, counts)])
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"F1 on the project's test split ({ev.n_test} segments; n: test segments with the label)")
    ax.set_title("Frames: F1 per label", pad=22)
    ax.invert_yaxis()
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names), fontsize="small", frameon=False)
    return fig


def curve_figure(ev: FramesEvaluation):
    """The learning curve: a tick at each point, the labels it was trained on."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [p.n_train for p in ev.curve]
    ax.plot(xs, [p.model["micro_f1"] for p in ev.curve], marker="o", label=f"{ev.curve_method} micro-F1")
    ax.plot(xs, [p.model["macro_f1"] for p in ev.curve], marker="o", linestyle="--", color="C0",
            label=f"{ev.curve_method} macro-F1")
    ax.plot(xs, [p.tfidf["micro_f1"] for p in ev.curve], marker="s", color="C1", label="TF-IDF micro-F1")
    ax.plot(xs, [p.tfidf["macro_f1"] for p in ev.curve], marker="s", linestyle="--", color="C1",
            label="TF-IDF macro-F1")
    ax.axhline(ev.rows[MAJORITY]["overall"]["micro_f1"], color="grey", linestyle=":", label="majority micro-F1")
    # a tick at each point: the number of labels it was trained on (and the share of the train split)
    ax.set_xticks(xs, [f"{p.n_train}\n{p.fraction:.0%}" for p in ev.curve])
    ax.set_xlim(0, max(xs) * 1.05)
    ax.set_xlabel("labelled training segments (share of the train split; nested subsets, by speech)")
    ax.set_ylabel(f"score on the test split ({ev.n_test} segments)")
    ax.set_ylim(0, 1)
    ax.set_yticks([i / 10 for i in range(11)])
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("Learning curve: frames score against number of labels")
    return fig


def _short_time(iso: str) -> str:
    """``2026-12-03T09:08:23+00:00`` as ``2026-12-03 09:08``."""
    return iso[:16].replace("T", " ")


def version_points(group: KindVersions) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """What the versions' plot draws for one kind: per score, the (x, score) points of the
    versions scored now (``scored``) and of those with their recorded score (``recorded``); x
    counts the rows from 1. A version with no score (scored on no test item) has no point."""
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for key in group.keys:
        out[key] = {"scored": [], "recorded": []}
        for x, row in enumerate(group.rows, start=1):
            value = row.scores.get(key)
            if isinstance(value, (int, float)):
                out[key]["recorded" if row.recorded else "scored"].append((x, float(value)))
    return out


def versions_figure(groups: list[KindVersions]):
    """One panel per kind: its versions that were active at some time, in training order (x: 1,
    2, 3, … labelled with the method and the time), each scored on the current test split; a
    version that could not be scored now shows its recorded score as a hollow marker."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(groups), 1, figsize=(max(7.0, 1.1 * max(len(g.rows) for g in groups) + 2),
                                                     3.6 * len(groups)), squeeze=False)
    for ax, group in zip(axes[:, 0], groups):
        xs = list(range(1, len(group.rows) + 1))
        points = version_points(group)
        for key, style in zip(group.keys, ("-", "--")):
            scored, recorded = points[key]["scored"], points[key]["recorded"]
            color = f"C{group.keys.index(key)}"
            if scored:
                ax.plot([x for x, _ in scored], [y for _, y in scored], marker="o", linestyle=style, color=color,
                        label=SCORE_NAMES[key])
            if recorded:
                ax.plot([x for x, _ in recorded], [y for _, y in recorded], marker="o", linestyle="none",
                        markerfacecolor="none", color=color,
                        label=f"{SCORE_NAMES[key]} recorded when trained (on its own test split)")
        first = group.keys[0]
        for x, row in zip(xs, group.rows):
            if row.active and isinstance(row.scores.get(first), (int, float)):
                ax.annotate("active", (x, row.scores[first]), textcoords="offset points", xytext=(0, 8),
                            ha="center", fontsize="small")
        ax.set_xticks(xs, [_plain(f"{x}. {row.method}\n{_short_time(row.trained_at)}")
                           for x, row in zip(xs, group.rows)], fontsize="small")
        ax.set_xlim(0.5, len(xs) + 0.5)
        ax.set_ylim(0, 1)
        ax.set_yticks([i / 5 for i in range(6)])
        ax.grid(axis="y", alpha=0.3)
        title = (f"{KIND_NAMES[group.kind]}: on {group.test_set()}" if group.n_test
                 else f"{KIND_NAMES[group.kind]}: as recorded when trained (no current test split)")
        hidden = group.older + group.never_active
        if hidden:
            title += f" ({hidden} version{'s' if hidden != 1 else ''} not shown)"
        ax.set_title(_plain(title), fontsize="medium")
        ax.set_ylabel("score")
        ax.legend(fontsize="x-small")
    axes[-1, 0].set_xlabel("the versions that were active at some time, in the order they were trained")
    fig.tight_layout()
    return fig


class _Span(str):
    """A table cell that spans ``columns`` columns."""

    def __new__(cls, text: str, columns: int) -> "_Span":
        cell = super().__new__(cls, text)
        cell.columns = columns
        return cell


def _table(head: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any, tag: str) -> str:
        text = f"{value:.3f}" if isinstance(value, float) else "-" if value is None else str(value)
        span = f' colspan="{value.columns}"' if isinstance(value, _Span) else ""
        return f"<{tag}{span}>{html.escape(text)}</{tag}>"

    return ("<table><tr>" + "".join(cell(h, "th") for h in head) + "</tr>"
            + "".join("<tr>" + "".join(cell(v, "td") for v in row) + "</tr>" for row in rows) + "</table>")


def evaluation_html(ev: FramesEvaluation, images: dict[str, bytes]) -> list[str]:
    """The frames evaluation as HTML tables beside its plots."""
    def img(name: str) -> list[str]:
        data = images.get(name)
        return [f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'] if data else []

    langs = ev.shown_languages
    out = [f"<h2>Frames against baselines</h2><p>The project's test split: {ev.n_test} segments; "
           f"trained on {ev.n_train}. Per language: micro-F1 where a language has at least {ev.per_language_min} "
           "test segments.</p>",
           _table(["", "micro-F1", "macro-F1", *langs],
                  [[name, row["overall"]["micro_f1"], row["overall"]["macro_f1"],
                    *[row["per_language"].get(lang) for lang in langs]] for name, row in ev.rows.items()]
                  + [["n test segments", ev.n_test, "", *[ev.languages[lang] for lang in langs]]])]
    if ev.note:
        out.append(f"<p>{html.escape(ev.note)}</p>")
    names = [n for n in (ev.active_row, MAJORITY, TFIDF) if n]
    out.append("<h2>Frames per label (F1, test split)</h2><p>n test: the test segments with the label; a label "
               "with none has no F1 (which is not an F1 of 0).</p>")
    out.append(_table(["label", "n test", "n train", *names],
                      [[ev.label_name(lab), ev.label_counts["test"][lab], ev.label_counts["train"][lab],
                        *([_label_f1(ev, n, lab) for n in names] if ev.label_counts["test"][lab]
                          else [_Span(NO_TEST_ITEMS, len(names))])] for lab in ev.labels]))
    out += img("f1_per_label.png")
    if ev.curve_note:
        out.append(f"<p>{html.escape(ev.curve_note)}</p>")
    if ev.curve:
        out.append(f"<h2>Learning curve</h2><p>The quick frames model ({html.escape(ev.curve_method)}) and the "
                   "TF-IDF baseline trained on nested shares of the train split, drawn by speech with a fixed "
                   "seed, each scored on the test split.</p>")
        out += img("learning_curve.png")
        out.append(_table(["share", "labels", "speeches", f"{ev.curve_method} micro-F1", "macro-F1",
                           "TF-IDF micro-F1", "macro-F1"],
                          [[f"{p.fraction:.0%}", p.n_train, p.n_speeches, p.model["micro_f1"], p.model["macro_f1"],
                            p.tfidf["micro_f1"], p.tfidf["macro_f1"]] for p in ev.curve]))
    if ev.transfer:
        out.append(f"<h2>Cross-lingual transfer</h2><p>Micro-F1 of the {html.escape(ev.curve_method)} model on a "
                   "language's test segments, trained on every train label, or trained and tuned without that "
                   "language's labels (what the other languages' labels alone give).</p>")
        out.append(_table(["language", "n test", "n train (language)", "n train (others)", "all labels",
                           "without the language", "change", "majority"],
                          [[t.language, t.n_test, t.n_train_language, t.n_train_others, t.with_all, t.without,
                            None if t.without is None else f"{t.without - t.with_all:+.3f}", t.majority]
                           for t in ev.transfer]))
    out.append(f"<p>Computed in {ev.seconds:.1f} s.</p>")
    return out


def speech_html(result: SpeechFramesResult) -> list[str]:
    n = result.sizes.get("test", 0)
    out = [f"<h2>Frames for whole speeches</h2><p>The project's test speeches with speech labels: {n} "
           f"(trained on {result.sizes.get('train', 0)}, tuned on {result.sizes.get('dev', 0)}); each model beside "
           "TF-IDF + logistic regression over whole speeches and the commonest frames, on the same speeches.</p>"]
    if result.majority:
        rows = speech_rows(result)
        out.append(_table(["", "micro-F1", "macro-F1"],
                          [[name, _scored(m, "micro_f1"), _scored(m, "macro_f1")] for name, m, _ in rows]
                          + [["n test speeches", n, ""]]))
        out.append("<ul>" + "".join(f"<li>{html.escape(name)}: {html.escape(what)}</li>" for name, _, what in rows)
                   + "</ul>")
        margin = speech_margin(result)
        if margin:
            out.append(f"<p>{html.escape(margin)}.</p>")
    out += [f"<p>{html.escape(note)}</p>" for note in result.notes]
    return out


def versions_html(groups: dict[str, KindVersions], images: dict[str, bytes]) -> list[str]:
    """Each kind's versions on the current test split, as a table, with the versions' plot."""
    if not groups:
        return []
    out = ["<h2>Model versions on the current test split</h2><p>The versions that were active at some time, "
           "oldest first, each scored now on the project's current test split (the same items for every "
           "version, so that they compare: the test segments for frames, every segment of the test speeches for "
           "slogan spans, the test speeches with speech labels for frames for whole speeches); a version that "
           "cannot be loaded any more shows the score recorded "
           "when it was trained, on its own test split, marked <em>recorded</em>.</p>"]
    for group in groups.values():
        first, second = group.keys
        out.append(f"<h3>{html.escape(KIND_NAMES[group.kind].capitalize())}: {html.escape(group.test_set())}</h3>")
        out.append(_table(["version", "method", "active", SCORE_NAMES[first], SCORE_NAMES[second], "scored on",
                           f"recorded {SCORE_NAMES[first]}", f"recorded on ({group.unit})"],
                          [[row.version, row.method, "*" if row.active else "", row.scores.get(first),
                            row.scores.get(second),
                            f"recorded ({row.why})" if row.recorded else group.scored_on(),
                            row.recorded_score(first), row.recorded_n]
                           for row in group.rows]))
        out += [f"<p>Not shown: {html.escape(left)}.</p>" for left in group.left_out()]
    data = images.get("versions.png")
    if data:
        out.append(f'<img alt="versions.png" src="data:image/png;base64,{base64.b64encode(data).decode()}">')
    return out


def write_report(store: Store, out_dir: Path, evaluation: FramesEvaluation | None | bool = True,
                 spans: SpansEvaluation | None | bool = True, speeches: SpeechFramesResult | None = None,
                 versions: dict[str, KindVersions] | bool = True) -> Path:
    """Write ``report.html`` (with the plots inline) and the PNGs into ``out_dir``."""
    evaluation = _evaluation(store, evaluation)
    spans = evaluate_project_spans(store) if spans is True else spans or None
    versions = _versions(store, versions)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = plots(store, evaluation, versions)
    for name, data in images.items():
        (out_dir / name).write_bytes(data)
    text = text_report(store, evaluation, spans, speeches, versions)
    body = [f"<h1>annotator report</h1><pre>{html.escape(text)}</pre>"]
    body += versions_html(versions, images)
    shown = {"versions.png"}
    if evaluation is not None:
        body += evaluation_html(evaluation, images)
        shown |= {"f1_per_label.png", "learning_curve.png"}
    if spans is not None:
        body += spans_html(spans)
    if speeches is not None:
        body += speech_html(speeches)
    for name, data in images.items():
        if name not in shown:
            body.append(f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')
    page = out_dir / "report.html"
    tmp = page.with_suffix(".html.tmp")
    tmp.write_text("<!doctype html><meta charset=utf-8><title>annotator report</title>"
                   "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}img{max-width:100%}"
                   "pre{white-space:pre-wrap;overflow-wrap:anywhere}"
                   "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;"
                   "text-align:right}td:first-child,th:first-child{text-align:left}</style>"
                   + "\n".join(body), encoding="utf-8")
    tmp.replace(page)
    return page
