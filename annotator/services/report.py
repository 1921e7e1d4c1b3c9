"""``annotator report``: scores per label and across model versions, as text and an HTML page.

Beside the saved versions' own scores, the frames part shows ``services.evaluation``'s figures,
all on the project's current test split: the active version against a majority and a TF-IDF
baseline (overall, per language, per label, with the number of test items), a learning curve
(score against the number of labels) and the cross-lingual transfer. The page has them as
tables and embeds the plots (matplotlib, PNG): F1 per label, the learning curve, and the saved
versions' scores (each on the test split of its own training time). A linguist can paste any
of them in a paper.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from annotator.services.evaluation import MAJORITY, TFIDF, FramesEvaluation, evaluate_project_frames
from annotator.services.span_evaluation import SpansEvaluation, evaluate_project_spans
from annotator.services.speech_training import SpeechFramesResult
from annotator.store import Store


def _versions(store: Store, kind: str) -> list[dict[str, Any]]:
    return [m for m in store.registered_models() if m["kind"] == kind and m["meta"].get("metrics")]


def _train_size(meta: dict[str, Any]) -> int:
    training = (meta.get("extra") or {}).get("training") or {}
    return int(training.get("n_train") or training.get("train") or 0)


def text_report(store: Store, evaluation: FramesEvaluation | None | bool = True,
                spans: SpansEvaluation | None | bool = True, speeches: SpeechFramesResult | None = None) -> str:
    """The report as text. ``evaluation``: a computed ``FramesEvaluation`` (or None where the
    project has none), True to compute it here, False to leave the learning curve and the
    transfer out of it; ``spans``: a computed ``SpansEvaluation``, True to compute it here,
    None or False to leave the spans baselines out; ``speeches``: the speech-level figures
    (``services.speech_training.report_speech_frames``), if any."""
    evaluation = _evaluation(store, evaluation)
    spans = evaluate_project_spans(store) if spans is True else spans or None
    lines: list[str] = []
    active = store.active_models()
    for kind in ("frames", "spans"):
        versions = _versions(store, kind)
        if not versions:
            continue
        lines.append(f"{kind} versions (test split):")
        for m in versions:
            metrics = m["meta"]["metrics"]
            mark = "*" if active.get(kind) == m["version"] else " "
            if kind == "frames":
                lines.append(f" {mark} {m['version']:<40} micro-F1 {metrics.get('micro_f1', 0):.3f}  "
                             f"macro-F1 {metrics.get('macro_f1', 0):.3f}  ({m['meta'].get('method', '')})")
            else:
                lines.append(f" {mark} {m['version']:<40} span F1 partial {metrics.get('partial_f1', 0):.3f}  "
                             f"exact {metrics.get('exact_f1', 0):.3f}")
                if "partial_precision" in metrics:
                    from annotator.services.training import span_detail

                    lines.append(f"     {span_detail(metrics)}")
    if evaluation is not None:
        lines.extend(evaluation_lines(evaluation))
    else:
        frames = _active_frames_metrics(store)
        if frames:
            lines.append("")
            lines.append(f"{'label':<46} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}")
            for label, s in frames.get("per_label", {}).items():
                lines.append(f"{label:<46} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {s['support']:4d}")
    if spans is not None:
        lines.extend(span_baseline_lines(spans))
    if speeches is not None:
        lines.extend(speech_lines(speeches))
    return "\n".join(lines) if lines else "no evaluated model versions yet: run `annotator train`"


def speech_rows(result: SpeechFramesResult) -> list[tuple[str, dict]]:
    """(name, test scores) of each way, then the majority baseline."""
    names = {"aggregate": "aggregate", "linear": "speech model"}
    return [(f"{names.get(c.method, c.method)}: {c.description}", c.metrics) for c in result.candidates] + \
        [(MAJORITY, result.majority)]


def speech_lines(result: SpeechFramesResult) -> list[str]:
    """Frames for whole speeches: each way's micro/macro F1 on the test speeches beside majority."""
    n = result.sizes.get("test", 0)
    lines = ["", f"frames for whole speeches (the project's test speeches with speech labels: {n}, "
                 f"trained on {result.sizes.get('train', 0)}, tuned on {result.sizes.get('dev', 0)}):"]
    if result.majority:
        rows = speech_rows(result)
        width = max(len(name) for name, _ in rows)
        lines.append(f"  {'':<{width}} {'micro-F1':>8} {'macro-F1':>8}")
        for name, metrics in rows:
            lines.append(f"  {name:<{width}} {metrics.get('micro_f1', 0.0):8.3f} {metrics.get('macro_f1', 0.0):8.3f}")
        lines.append(f"  {'n test speeches':<{width}} {n:8d}")
    lines += [f"  {note}" for note in result.notes]
    return lines


def _evaluation(store: Store, evaluation: FramesEvaluation | None | bool) -> FramesEvaluation | None:
    if isinstance(evaluation, bool):
        return evaluate_project_frames(store, curves=evaluation)
    return evaluation


def _f(value: float | None, width: int = 6) -> str:
    return f"{value:{width}.3f}" if isinstance(value, (int, float)) else f"{'-':>{width}}"


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
        line = f"  {label:<46} {ev.label_counts['test'][label]:6d} {ev.label_counts['train'][label]:7d}"
        if active:
            s = ev.rows[active]["overall"].get("per_label", {}).get(label) if ev.label_counts["test"][label] else None
            line += f" {_f(s and s['precision'])} {_f(s and s['recall'])} {_f(s and s['f1'])}"
        line += f" {_f(_label_f1(ev, MAJORITY, label))} {_f(_label_f1(ev, TFIDF, label))}"
        lines.append(line)
    return lines


def span_baseline_lines(ev: SpansEvaluation) -> list[str]:
    """The active slogan tagger beside the known-formulation and quotation baselines."""
    langs = ev.shown_languages
    lines = ["", f"slogan spans against baselines (the project's test split: {ev.n_test} segments, "
                 f"{ev.n_without} of them without a slogan, each one counted; trained on {ev.n_train}):",
             f"  {'':<48} {'partial':>7} {'P':>6} {'R':>6} {'exact':>6} {'spans':>6}"
             + "".join(f" {lang:>6}" for lang in langs)]
    for name, s in ev.rows.items():
        per_language = s.get("per_language", {})
        lines.append(f"  {name:<48} {s['partial_f1']:7.3f} {s['partial_precision']:6.3f} {s['partial_recall']:6.3f} "
                     f"{s['exact_f1']:6.3f} {s['n_pred']:6d}"
                     + "".join(f" {_f(per_language.get(lang, {}).get('partial_f1'))}" for lang in langs))
    n_gold = next(iter(ev.rows.values()))["n_gold"] if ev.rows else 0
    lines.append(f"  (partial: partial-overlap F1, with its precision and recall; exact: exact-match F1; spans: how "
                 f"many were suggested, for {n_gold} true ones; per language: partial F1 where a language has at "
                 f"least {ev.per_language_min} test segments)")
    if ev.note:
        lines.append(f"  {ev.note}")
    return lines


def spans_html(ev: SpansEvaluation) -> list[str]:
    langs = ev.shown_languages
    n_gold = next(iter(ev.rows.values()))["n_gold"] if ev.rows else 0
    out = [f"<h2>Slogan spans against baselines</h2><p>The project's test split: {ev.n_test} segments, "
           f"{ev.n_without} of them without a slogan (a span suggested there counts against precision); "
           f"{n_gold} true spans; trained on {ev.n_train}. Known formulations: the glossary and the slogans "
           "marked in the train and dev speeches, wherever they occur.</p>",
           _table(["", "partial F1", "partial P", "partial R", "exact F1", "exact P", "exact R", "spans",
                   *[f"{lang} partial F1" for lang in langs]],
                  [[name, s["partial_f1"], s["partial_precision"], s["partial_recall"], s["exact_f1"],
                    s["exact_precision"], s["exact_recall"], s["n_pred"],
                    *[s.get("per_language", {}).get(lang, {}).get("partial_f1") for lang in langs]]
                   for name, s in ev.rows.items()])]
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
    active = store.active_models().get("frames")
    for m in _versions(store, "frames"):
        if m["version"] == active:
            return m["meta"]["metrics"]
    return {}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plain(text: str) -> str:
    """A string matplotlib draws as it is (``$`` would start mathtext)."""
    return str(text).replace("$", r"\$")


def plots(store: Store, evaluation: FramesEvaluation | None | bool = True) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    evaluation = _evaluation(store, evaluation)
    out: dict[str, bytes] = {}
    if evaluation is not None:
        ev = evaluation
        names = [n for n in (ev.active_row, TFIDF, MAJORITY) if n]
        ys = np.arange(len(ev.labels))
        height = 0.8 / len(names)
        fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(ev.labels) + 1.5))
        for i, name in enumerate(names):
            ax.barh(ys + i * height, [_label_f1(ev, name, lab) or 0.0 for lab in ev.labels], height,
                    label=_plain(name))
        ax.set_yticks(ys + height * (len(names) - 1) / 2,
                      [_plain(f"{lab.replace('_', ' ')} ({ev.label_counts['test'][lab]})") for lab in ev.labels])
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"F1 on the test split ({ev.n_test} segments; test items per label in brackets)")
        ax.set_title("Frames: F1 per label", pad=22)
        ax.invert_yaxis()
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names), fontsize="small", frameon=False)
        out["f1_per_label.png"] = base64.b64decode(_png(fig))
        plt.close(fig)
        if ev.curve:
            fig, ax = plt.subplots(figsize=(7, 4))
            xs = [p.n_train for p in ev.curve]
            ax.plot(xs, [p.model["micro_f1"] for p in ev.curve], marker="o", label=f"{ev.curve_method} micro-F1")
            ax.plot(xs, [p.model["macro_f1"] for p in ev.curve], marker="o", linestyle="--", color="C0",
                    label=f"{ev.curve_method} macro-F1")
            ax.plot(xs, [p.tfidf["micro_f1"] for p in ev.curve], marker="s", color="C1", label="TF-IDF micro-F1")
            ax.plot(xs, [p.tfidf["macro_f1"] for p in ev.curve], marker="s", linestyle="--", color="C1",
                    label="TF-IDF macro-F1")
            ax.axhline(ev.rows[MAJORITY]["overall"]["micro_f1"], color="grey", linestyle=":", label="majority micro-F1")
            ax.set_xlabel("labelled training segments (nested subsets of the train split, by speech)")
            ax.set_ylabel(f"score on the test split ({ev.n_test} segments)")
            ax.set_ylim(0, 1)
            ax.legend(fontsize="small")
            ax.set_title("Learning curve: frames score against number of labels")
            out["learning_curve.png"] = base64.b64decode(_png(fig))
            plt.close(fig)
    else:
        frames = _active_frames_metrics(store)
        if frames.get("per_label"):
            labels = list(frames["per_label"])
            fig, ax = plt.subplots(figsize=(7, 4.5))
            ax.barh([_plain(lab.replace("_", " ")) for lab in labels], [frames["per_label"][lab]["f1"] for lab in labels],
                    color="#4c72b0")
            ax.set_xlim(0, 1)
            ax.set_xlabel("F1 (test split)")
            ax.set_title(_plain(f"Frames: F1 per label, {store.active_models().get('frames')}"))
            ax.invert_yaxis()
            out["f1_per_label.png"] = base64.b64decode(_png(fig))
            plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    drew = False
    for kind, getter, name in (("frames", lambda m: m.get("micro_f1", 0.0), "frames micro-F1"),
                               ("spans", lambda m: m.get("partial_f1", 0.0), "spans partial F1")):
        versions = _versions(store, kind)
        if versions:
            xs = list(range(1, len(versions) + 1))
            ax.plot(xs, [getter(v["meta"]["metrics"]) for v in versions], marker="o", label=name)
            drew = True
    if drew:
        ax.set_xlabel("model version (oldest first)")
        ax.set_ylabel("score on the test split of its training time")
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title("Saved versions, each scored when it was trained")
        out["versions.png"] = base64.b64decode(_png(fig))
    plt.close(fig)
    return out


def _table(head: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any, tag: str) -> str:
        text = f"{value:.3f}" if isinstance(value, float) else "-" if value is None else str(value)
        return f"<{tag}>{html.escape(text)}</{tag}>"

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
    out.append("<h2>Frames per label (F1, test split)</h2>")
    out.append(_table(["label", "n test", "n train", *names],
                      [[lab, ev.label_counts["test"][lab], ev.label_counts["train"][lab],
                        *[_label_f1(ev, n, lab) for n in names]] for lab in ev.labels]))
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
           f"(trained on {result.sizes.get('train', 0)}, tuned on {result.sizes.get('dev', 0)}).</p>"]
    if result.majority:
        out.append(_table(["", "micro-F1", "macro-F1"],
                          [[name, m.get("micro_f1", 0.0), m.get("macro_f1", 0.0)] for name, m in speech_rows(result)]
                          + [["n test speeches", n, ""]]))
    out += [f"<p>{html.escape(note)}</p>" for note in result.notes]
    return out


def write_report(store: Store, out_dir: Path, evaluation: FramesEvaluation | None | bool = True,
                 spans: SpansEvaluation | None | bool = True, speeches: SpeechFramesResult | None = None) -> Path:
    """Write ``report.html`` (with the plots inline) and the PNGs into ``out_dir``."""
    evaluation = _evaluation(store, evaluation)
    spans = evaluate_project_spans(store) if spans is True else spans or None
    out_dir.mkdir(parents=True, exist_ok=True)
    images = plots(store, evaluation)
    for name, data in images.items():
        (out_dir / name).write_bytes(data)
    body = [f"<h1>annotator report</h1><pre>{html.escape(text_report(store, evaluation, spans, speeches))}</pre>"]
    shown = set()
    if evaluation is not None:
        body += evaluation_html(evaluation, images)
        shown = {"f1_per_label.png", "learning_curve.png"}
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
                   "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}img{max-width:100%}"
                   "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;"
                   "text-align:right}td:first-child,th:first-child{text-align:left}</style>"
                   + "\n".join(body), encoding="utf-8")
    tmp.replace(page)
    return page
