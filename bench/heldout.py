"""Held-out benchmark on real news: SemEval-2023 Task 3, run through the CLI as a user runs it.

Per language: the articles that have both frames (subtask 2) and a span file (subtask 3) are
split by article (seeded); the test articles are held out. Every article is imported as a
speech (`annotator import`), the labelled pool's frames (whole speeches) and slogan spans (on
every one of its segments, so that segments without a slogan are negatives) come in through
`annotator import-labels`, then `annotator train` and `annotator suggest --no-translate`. What
suggest stored for the test articles is read back (SQLite, read only) and scored against a
majority baseline and TF-IDF + logistic regression (``annotator.ml.baselines.TfidfFrames``).
Every other speech-frames version that `train` registered is scored by activating it
(`annotator models use`) and suggesting again.

Data (not shipped): bench/README.md, "Held-out news: SemEval-2023 Task 3".

Run: ``ANNOTATOR_MODELS=... .venv/bin/python bench/heldout.py --data DIR/data --out /tmp/heldout [--quick]``;
``--table A/results.json B/results.json`` prints the table of runs made apart.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.metrics import frame_scores, label_matrix, span_scores
from annotator.ml.baselines import QuotationSpans, TfidfFrames
from annotator.ml.examples import Example
from annotator.schemes import get_scheme
from annotator.thresholds import reaches

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = {"en": "en", "fr": "fr", "ge": "de", "it": "it", "po": "pl", "ru": "ru"}  # SemEval folder → ISO 639-1
SLOGAN = "Slogan"  # our span label for SemEval's technique "Slogans"
Span = tuple[int, int]


@dataclass
class Article:
    id: str
    text: str  # line endings as `annotator import` stores them (\r\n and \r → \n)
    frames: list[str]
    slogans: list[Span]  # offsets into ``text``
    moved: int = 0  # slogan offsets that moved when the line endings were normalised

    @property
    def title(self) -> str:
        return next((line.strip() for line in self.text.split("\n") if line.strip()), self.id)


# ------------------------------------------------------------------ offsets (tests/test_heldout_offsets.py)


def normalise(raw: str) -> tuple[str, list[int]]:
    """``raw`` with \\r\\n and \\r as \\n, and where each of raw's offsets (0..len) lands in it."""
    out, where, i = [], [], 0
    while i < len(raw):
        where.append(len(out))
        if raw[i] == "\r" and raw[i + 1:i + 2] == "\n":
            where.append(len(out))  # the \n of a \r\n lands where its \r did
            out.append("\n")
            i += 2
            continue
        out.append("\n" if raw[i] == "\r" else raw[i])
        i += 1
    where.append(len(out))
    return "".join(out), where


def onto_segments(spans: list[Span], segments: list[Span]) -> list[list[tuple[int, int, str]]]:
    """Article spans as spans of the segments that hold them (segment-relative offsets): a span
    across a segment boundary is cut at it; the pieces in the blank between two segments are lost.
    ``segments``: (start, end) in the article, as the store keeps them."""
    out: list[list[tuple[int, int, str]]] = [[] for _ in segments]
    for s, e in spans:
        for k, (a, b) in enumerate(segments):
            lo, hi = max(s, a), min(e, b)
            if lo < hi:
                out[k].append((lo - a, hi - a, SLOGAN))
    return out


def trimmed(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Spans without the blank at their edges (those that are all blank dropped)."""
    out = []
    for s, e, lab in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e, lab))
    return out


# ------------------------------------------------------------------ data


def load_language(data: Path, folder: str) -> list[Article]:
    base = data / folder
    articles = []
    for line in (base / "train-labels-subtask-2.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        art_id, _, frames = line.partition("\t")
        text_file = base / "train-articles-subtask-3" / f"article{art_id}.txt"
        span_file = base / "train-labels-subtask-3-spans" / f"article{art_id}-labels-subtask-3.txt"
        if not (text_file.is_file() and span_file.is_file()):
            continue
        with open(text_file, encoding="utf-8", newline="") as fh:
            raw = fh.read()
        text, where = normalise(raw)
        slogans, moved = [], 0
        for row in span_file.read_text(encoding="utf-8").splitlines():
            parts = row.split("\t")
            if len(parts) >= 4 and parts[1] == "Slogans":
                s, e = int(parts[2]), int(parts[3])
                slogans.append((where[s], where[e]))
                moved += (where[s], where[e]) != (s, e)
        articles.append(Article(art_id, text, [f for f in frames.split(",") if f], sorted(slogans), moved))
    return articles


def split_articles(articles: list[Article], fraction: float, seed: int) -> tuple[list[Article], list[Article]]:
    order = sorted(articles, key=lambda a: a.id)
    random.Random(seed).shuffle(order)
    n_test = max(1, round(len(order) * fraction))
    return order[n_test:], order[:n_test]


# ------------------------------------------------------------------ the CLI and the store


def annotator(project: Path, *args: str, log: list[dict]) -> tuple[str, float]:
    """``python -m annotator ARGS --db project/annotator.db``: its output and wall seconds; a
    failure stops the bench with the command's own output."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}  # ANNOTATOR_MODELS passes through
    cmd = [sys.executable, "-m", "annotator", *args, "--db", str(project / "annotator.db")]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    log.append({"command": " ".join(["annotator", *args]), "rc": done.returncode, "seconds": round(seconds, 1),
                "output": output})
    (project / "cli.log").open("a", encoding="utf-8").write(
        f"$ annotator {' '.join(args)}\n{output}[rc {done.returncode}, {seconds:.1f} s]\n\n")
    if done.returncode != 0:
        raise CliFailed(f"annotator {' '.join(args)} failed (rc {done.returncode}):\n{output}")
    return output, seconds


class CliFailed(RuntimeError):
    pass


def read_only(db: Path):
    """The project's Store over a read-only SQLite connection."""
    from sqlite_utils import Database

    from annotator.store import Store

    return Store(Database(sqlite3.connect(f"file:{db}?mode=ro", uri=True)), db)


def speech_ids(store, articles: list[Article]) -> dict[str, int]:
    by_external = {sp.external_id: sp.id for sp in store.speeches()}
    return {a.id: by_external[a.id] for a in articles}


def suggested_frames(store, ids: list[int], version: str) -> list[list[str]]:
    """The frames whose stored score reaches its threshold, per speech, for one version."""
    return [sorted(s.label for s in store.speech_scores(i, version) if reaches(s.score, s.threshold)) for i in ids]


# ------------------------------------------------------------------ scores


def majority(pool: list[Article], test: list[Article], labels: list[str]) -> tuple[int, list[list[str]]]:
    """The k commonest pool frames for every article, k the best on the pool (micro-F1)."""
    ranked = [f for f, _ in Counter(f for a in pool for f in a.frames).most_common()]
    gold = [a.frames for a in pool]
    k = max(range(1, len(ranked) + 1), key=lambda k: frame_scores(gold, [ranked[:k]] * len(pool), labels)["micro_f1"])
    return k, [ranked[:k]] * len(test)


def tfidf(pool: list[Article], test: list[Article], labels: list[str], seed: int) -> list[list[str]]:
    """TF-IDF + logistic regression over whole articles: fitted on 80 % of the pool, its
    thresholds tuned on the other 20 %."""
    order = sorted(pool, key=lambda a: a.id)
    random.Random(seed + 1).shuffle(order)
    cut = round(len(order) * 0.8)
    as_examples = [Example(a.id, a.text, frames=a.frames) for a in order]
    model = TfidfFrames().fit(as_examples[:cut], labels, as_examples[cut:])
    probs = model.predict_matrix([a.text for a in test])
    return [[lab for lab, p in zip(model.labels, row) if reaches(p, model.thresholds[lab])] for row in probs]


def frame_figures(gold: list[list[str]], pred: list[list[str]], labels: list[str]) -> dict:
    s = frame_scores(gold, pred, labels)
    return {"micro_f1": s["micro_f1"], "macro_f1": s["macro_f1"], "micro_precision": s["micro_precision"],
            "micro_recall": s["micro_recall"], "labels_per_article": float(np.mean([len(p) for p in pred]))}


def bootstrap_delta(gold, pred, base, labels: list[str], seed: int, rounds: int = 1000) -> list[float]:
    """95 % interval of micro-F1(pred) − micro-F1(base), resampling the test articles (paired)."""
    y = label_matrix(gold, labels)

    def counts(p):  # per article: true positives, false positives, false negatives
        m = label_matrix(p, labels)
        return np.stack([(m & y).sum(1), (m & (1 - y)).sum(1), ((1 - m) & y).sum(1)], 1)

    a, b = counts(pred), counts(base)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(gold), size=(rounds, len(gold)))

    def micro(c):
        tp, fp, fn = c[idx].sum(1).T
        return np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(rounds), where=(2 * tp + fp + fn) > 0)

    diff = micro(a) - micro(b)
    return [float(np.percentile(diff, 2.5)), float(np.percentile(diff, 97.5))]


def slogan_figures(gold: list[list[Span]], pred: list[list[Span]]) -> dict:
    s = span_scores([[(a, b, SLOGAN) for a, b in g] for g in gold], [[(a, b, SLOGAN) for a, b in p] for p in pred])
    return {"precision": s["partial_precision"], "recall": s["partial_recall"], "f1": s["partial_f1"],
            "exact_f1": s["exact_f1"], "pred_per_article": s["n_pred"] / len(gold),
            "gold_per_article": s["n_gold"] / len(gold)}


# ------------------------------------------------------------------ one language


def run_language(folder: str, articles: list[Article], args: argparse.Namespace, labels: list[str]) -> dict:
    lang = LANGUAGES[folder]
    project = args.out / folder
    if project.exists() and any(project.iterdir()):
        raise SystemExit(f"{project} is not empty: give a fresh --out")
    project.mkdir(parents=True, exist_ok=True)
    pool, test = split_articles(articles, args.test_fraction, args.seed)
    log: list[dict] = []
    result: dict = {"language": lang, "folder": folder, "articles": len(articles), "pool": len(pool),
                    "test": len(test), "slogan_offsets_moved": sum(a.moved for a in articles), "commands": log}

    # 1. import every article as a speech
    speeches = project / "articles.jsonl"
    with open(speeches, "w", encoding="utf-8") as fh:
        for a in articles:
            fh.write(json.dumps({"id": a.id, "title": a.title, "text": a.text}, ensure_ascii=False) + "\n")
    _, result["import_s"] = annotator(project, "import", str(speeches), "--lang", lang, log=log)

    # 2. the pool's labels, as a user writes them: frames per speech, slogans on every segment
    with closing(read_only(project / "annotator.db")) as store:
        ids = speech_ids(store, articles)
        segs = {a.id: store.segments_of_speech(ids[a.id]) for a in articles}
    lost = 0
    with open(project / "labels.jsonl", "w", encoding="utf-8") as fh:
        for a in pool:
            fh.write(json.dumps({"level": "speech", "text": a.text, "frames": a.frames}, ensure_ascii=False) + "\n")
            pieces = onto_segments(a.slogans, [(s.start, s.end) for s in segs[a.id]])
            for seg, spans in zip(segs[a.id], pieces):
                spans = trimmed(seg.text, spans)
                fh.write(json.dumps({"level": "segment", "uid": seg.uid, "text": seg.text, "frames": [],
                                     "spans": [{"start": s, "end": e, "label": lab, "text": seg.text[s:e]}
                                               for s, e, lab in spans]}, ensure_ascii=False) + "\n")
            lost += sum(e - s for s, e in a.slogans) - sum(e - s for p in pieces for s, e, _ in p)
    result["slogan_chars_between_segments"] = lost
    result["segments"] = sum(len(v) for v in segs.values())
    said, _ = annotator(project, "import-labels", str(project / "labels.jsonl"), "--format", "jsonl",
                        "--annotator", "semeval", log=log)
    pool_segments = sum(len(segs[a.id]) for a in pool)
    if f"{pool_segments} decisions on {pool_segments} segments and {len(pool)} on {len(pool)} whole" not in said:
        raise SystemExit(f"import-labels did not label every pool segment ({pool_segments}) and speech ({len(pool)}): {said}")

    # 3. train (the plain command, as a user would, unless --train split) and suggest
    out = ""
    if args.train == "plain":
        try:
            out, result["train_s"] = annotator(project, "train", log=log)
            result["train"] = "annotator train"
        except CliFailed as exc:
            print(f"  plain `annotator train` failed; training spans and speeches apart\n{exc}", flush=True)
    if not out:
        out1, s1 = annotator(project, "train", "--kind", "spans", log=log)
        out2, s2 = annotator(project, "train", "--kind", "speeches", log=log)
        out, result["train_s"], result["train"] = out1 + out2, s1 + s2, "train --kind spans; train --kind speeches"
    result["train_output"] = out
    parts: Counter = Counter()  # seconds per kind, as train's own lines say (frames: knn and linear)
    for kind, seconds in re.findall(r"^(frames|spans): \S+ \(\w+\) .*?, (\d+) s;", out, re.M):
        parts[kind] += int(seconds)
    result["train_parts_s"] = dict(parts)
    print(f"  {folder}: train {result['train_s']:.1f} s ({result['train']}; {result['train_parts_s']})", flush=True)
    _, result["suggest_s"] = annotator(project, "suggest", "--no-translate", log=log)

    # 4. read back what suggest stored for the test articles
    from annotator.services.speech_suggest import speech_version
    from annotator.store.speeches import speech_key

    with closing(read_only(project / "annotator.db")) as store:
        active = store.active_models()
        shown_version = speech_version(store)
        others = [m["version"] for m in store.registered_models()
                  if m["kind"] == "speech_frames" and m["version"] != shown_version]
        methods = {m["version"]: m["meta"].get("method") or (m["meta"].get("extra") or {}).get("method", "")
                   for m in store.registered_models()}
        sides = store.split_sides()
        tool_sides = Counter(sides.get(sp.content_hash, sides.get(speech_key(sp.content_hash), "unplaced"))
                             for sp in store.speeches() if sp.external_id in {a.id for a in pool})
        test_ids = [ids[a.id] for a in test]
        ways = {shown_version: suggested_frames(store, test_ids, shown_version)}
        spans_version = active.get("spans")
        pred_spans = []
        for a in test:
            found = []
            for seg in segs[a.id]:
                found += [(seg.start + s.start, seg.start + s.end) for s in store.suggestions(seg.id, [spans_version])
                          if s.kind == "span" and s.label == SLOGAN]
            pred_spans.append(found)
    result.update(active=active, speech_version=shown_version, tool_split_of_pool=dict(tool_sides))
    for version in others:  # the other ways: activated through the CLI, suggested again
        annotator(project, "models", "use", version, log=log)
        annotator(project, "suggest", "--no-translate", log=log)
        with closing(read_only(project / "annotator.db")) as store:
            ways[version] = suggested_frames(store, test_ids, version)
    if others and active.get("speech_frames"):
        annotator(project, "models", "use", active["speech_frames"], log=log)

    # 5. scores on the test articles
    gold = [a.frames for a in test]
    k, maj = majority(pool, test, labels)
    base = tfidf(pool, test, labels, args.seed)
    result["frames"] = {"true_labels_per_article": float(np.mean([len(g) for g in gold])),
                        "majority": {**frame_figures(gold, maj, labels), "k": k},
                        "tfidf": frame_figures(gold, base, labels), "ways": {}}
    for version, pred in ways.items():
        result["frames"]["ways"][version] = {
            **frame_figures(gold, pred, labels), "method": methods.get(version, "") or "untuned aggregate",
            "active": version == shown_version,
            "delta_vs_tfidf_ci95": bootstrap_delta(gold, pred, base, labels, args.seed)}
    true_spans = [a.slogans for a in test]
    quotes = QuotationSpans().predict_tuples([a.text for a in test])
    result["slogans"] = {"tool": slogan_figures(true_spans, pred_spans),
                         "quotations": slogan_figures(true_spans, [[(s, e) for s, e, _ in q] for q in quotes]),
                         "version": spans_version}
    return result


# ------------------------------------------------------------------ the table


def table(results: list[dict]) -> str:
    head = ("| lang | pool / test | train s | majority (k) | TF-IDF | tool, active way | other way | "
            "Δ micro vs TF-IDF, 95 % | frames / article: true, TF-IDF, tool | slogans P / R / F1 | quotations F1 | "
            "slogans / article: true, tool |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def mm(f: dict) -> str:
        return f"{f['micro_f1']:.3f} / {f['macro_f1']:.3f}"

    for r in results:
        fr, sl = r["frames"], r["slogans"]["tool"]
        ways = sorted(fr["ways"].values(), key=lambda w: not w["active"])
        act = ways[0]
        other = ways[1] if len(ways) > 1 else None
        ci = " ; ".join(f"{w['method']} [{w['delta_vs_tfidf_ci95'][0]:+.3f}, {w['delta_vs_tfidf_ci95'][1]:+.3f}]"
                        for w in ways)
        lines.append(
            f"| {r['language']} | {r['pool']} / {r['test']} | {r['train_s']:.0f} | {fr['majority']['micro_f1']:.3f} "
            f"({fr['majority']['k']}) | {mm(fr['tfidf'])} | {act['method']}: {mm(act)} | "
            f"{(other['method'] + ': ' + mm(other)) if other else '-'} | {ci} | "
            f"{fr['true_labels_per_article']:.1f}, {fr['tfidf']['labels_per_article']:.1f}, "
            f"{act['labels_per_article']:.1f} | {sl['precision']:.3f} / {sl['recall']:.3f} / {sl['f1']:.3f} | "
            f"{r['slogans']['quotations']['f1']:.3f} | {sl['gold_per_article']:.2f}, {sl['pred_per_article']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the SemEval-2023 Task 3 `data` folder (en/, fr/, …)")
    parser.add_argument("--out", type=Path, help="a fresh folder: one project per language, results.json")
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--train", choices=("plain", "split"), default="plain",
                        help="plain: `annotator train` (split where it fails); split: --kind spans, then --kind speeches")
    parser.add_argument("--quick", action="store_true", help="smoke run: fr and ge, 48 articles each")
    parser.add_argument("--table", type=Path, nargs="+", help="only print the table of these results.json files")
    args = parser.parse_args()
    if args.table:
        print(table([r for f in args.table for r in json.loads(f.read_text(encoding="utf-8"))["results"]]))
        return
    if args.data is None or args.out is None:
        parser.error("--data and --out are required")
    folders = ["fr", "ge"] if args.quick else args.languages.split(",")
    labels = list(get_scheme().frame_ids)
    results = []
    for folder in folders:
        articles = load_language(args.data, folder)
        if args.quick:
            articles = sorted(articles, key=lambda a: a.id)[:48]
        print(f"{folder}: {len(articles)} articles with frames and spans", flush=True)
        results.append(run_language(folder, articles, args, labels))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps({
            "seed": args.seed, "test_fraction": args.test_fraction, "quick": args.quick,
            "date": time.strftime("%Y-%m-%d"), "results": results}, indent=1, ensure_ascii=False), encoding="utf-8")
    print(table(results))


if __name__ == "__main__":
    main()
