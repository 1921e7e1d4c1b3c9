"""``annotator report``: scores per label and across model versions, as text and an HTML page.

The page embeds two plots (matplotlib, rendered to PNG): F1 per frame label for the active
frames version, and the learning curve across versions (micro-F1 for frames, partial-overlap
F1 for spans, against the number of training segments). A linguist can paste either in a paper.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from annotator.store import Store


def _versions(store: Store, kind: str) -> list[dict[str, Any]]:
    return [m for m in store.registered_models() if m["kind"] == kind and m["meta"].get("metrics")]


def _train_size(meta: dict[str, Any]) -> int:
    training = (meta.get("extra") or {}).get("training") or {}
    return int(training.get("n_train") or training.get("train") or 0)


def text_report(store: Store) -> str:
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
    lines.extend(baseline_lines(store))
    frames = _active_frames_metrics(store)
    if frames:
        lines.append("")
        lines.append(f"{'label':<46} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}")
        for label, s in frames.get("per_label", {}).items():
            lines.append(f"{label:<46} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {s['support']:4d}")
    return "\n".join(lines) if lines else "no evaluated model versions yet: run `annotator train`"


def baseline_lines(store: Store) -> list[str]:
    """The active frames version beside the majority and TF-IDF baselines, on the same test split."""
    from annotator.schemes import get_scheme
    from annotator.services.training import PER_LANGUAGE_MIN, compare_with_baselines

    frames = [m for m in store.registered_models() if m["version"] == store.active_models().get("frames")]
    scheme_name = (frames[0]["meta"].get("scheme") if frames else "") or None
    try:
        scheme = get_scheme(scheme_name)
    except Exception:
        scheme = get_scheme()
    found = compare_with_baselines(store, scheme)
    if not found:
        return []
    langs = [lang for lang, n in found["languages"].items() if n >= PER_LANGUAGE_MIN]
    lines = ["", f"frames against baselines (the project's test split: {found['n_test']} segments, "
                 f"trained on {found['n_train']}):"]
    head = f"  {'':<48} {'micro-F1':>8} {'macro-F1':>8}" + "".join(f" {lang:>6}" for lang in langs)
    lines.append(head)
    for name, row in found["rows"].items():
        overall = row["overall"]
        lines.append(f"  {name:<48} {overall['micro_f1']:8.3f} {overall['macro_f1']:8.3f}"
                     + "".join(f" {row['per_language'].get(lang, 0.0):6.3f}" for lang in langs))
    if langs:
        lines.append("  (per language: micro-F1, for languages with at least "
                     f"{PER_LANGUAGE_MIN} test segments: {', '.join(f'{k} {v}' for k, v in found['languages'].items())})")
    if found["note"]:
        lines.append(f"  {found['note']}")
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


def plots(store: Store) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    frames = _active_frames_metrics(store)
    if frames.get("per_label"):
        labels = list(frames["per_label"])
        f1 = [frames["per_label"][lab]["f1"] for lab in labels]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.barh([lab.replace("_", " ") for lab in labels], f1, color="#4c72b0")
        ax.set_xlim(0, 1)
        ax.set_xlabel("F1 (test split)")
        ax.set_title(f"Frames: F1 per label, {store.active_models().get('frames')}")
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
        ax.set_ylabel("score on the test split")
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title("Learning curve across versions")
        out["learning_curve.png"] = base64.b64decode(_png(fig))
    plt.close(fig)
    return out


def write_report(store: Store, out_dir: Path) -> Path:
    """Write ``report.html`` (with the plots inline) and the PNGs into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = plots(store)
    for name, data in images.items():
        (out_dir / name).write_bytes(data)
    body = [f"<h1>annotator report</h1><pre>{html.escape(text_report(store))}</pre>"]
    for name, data in images.items():
        body.append(f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')
    page = out_dir / "report.html"
    tmp = page.with_suffix(".html.tmp")
    tmp.write_text("<!doctype html><meta charset=utf-8><title>annotator report</title>"
                   "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}img{max-width:100%}</style>"
                   + "\n".join(body), encoding="utf-8")
    tmp.replace(page)
    return page
