"""The bundled demo corpus, its seed labels and the glossary: well-formed, attributed, and consistent.

The seed labels are the first-run training data and the held-out evaluation set, so every sentence
must occur verbatim in the file it names and every span must point at real, trimmed text.
"""

from __future__ import annotations

import collections
import json
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "corpora" / "demo"
SEEDS = DEMO / "seed-labels.jsonl"
GLOSSARY_DIR = REPO / "annotator" / "data" / "glossary"

FRAMES = {
    "Economic", "Capacity_and_resources", "Morality", "Fairness_and_equality",
    "Legality_Constitutionality_and_jurisprudence", "Policy_prescription_and_evaluation",
    "Crime_and_punishment", "Security_and_defense", "Health_and_safety", "Quality_of_life",
    "Cultural_identity", "Public_opinion", "Political", "External_regulation_and_reputation",
}
FRONT_MATTER_KEYS = {"title", "speaker", "date", "venue", "language", "source", "licence"}
ZH_FIELDS = {"id", "title", "speaker", "date", "venue", "language", "source", "licence", "text"}
MIN_PER_LANGUAGE = {"zh": 50, "en": 40, "de": 10, "it": 10, "el": 10}


def split_front_matter(raw: str) -> tuple[dict[str, str], str]:
    """Return (fields, body) of a `---`-delimited front matter file (flat `key: value` lines)."""
    assert raw.startswith("---\n"), "front matter must open the file"
    head, body = raw[4:].split("\n---\n", 1)
    fields = {}
    for line in head.splitlines():
        key, _, value = line.partition(": ")
        fields[key] = value
    return fields, body


def haystacks(source: str) -> list[str]:
    """The texts a seed sentence may come from: record texts, utterance texts or the body."""
    raw = (DEMO / source).read_text(encoding="utf-8")
    if source.endswith(".jsonl"):
        return [json.loads(line)["text"] for line in raw.splitlines() if line.strip()]
    if source.startswith("parlamint/"):
        return [line.split("\t", 1)[1] for line in raw.splitlines() if line]
    return [split_front_matter(raw)[1]]


@pytest.fixture(scope="module")
def seeds() -> list[dict]:
    lines = SEEDS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_every_demo_file_is_utf8_text() -> None:
    files = [p for p in DEMO.rglob("*") if p.is_file()]
    assert len(files) >= 30
    for path in files:
        text = path.read_bytes().decode("utf-8")  # raises on invalid UTF-8
        assert "\r" not in text, path
        assert "\ufeff" not in text, path


def test_parlamint_files_are_id_tab_text() -> None:
    files = sorted((DEMO / "parlamint").glob("ParlaMint-*/*.txt"))
    assert len(files) >= 17
    for path in files:
        assert path.name.startswith(path.parent.name), path
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines, path
        for line in lines:
            uid, tab, text = line.partition("\t")
            assert tab, (path, line[:60])
            assert uid.startswith(("ParlaMint-", "u")), (path, uid)
            assert text.strip(), (path, uid)


def test_ungdc_front_matter() -> None:
    files = sorted((DEMO / "ungdc").glob("*.txt"))
    assert len(files) == 16
    for path in files:
        fields, body = split_front_matter(path.read_text(encoding="utf-8"))
        assert FRONT_MATTER_KEYS <= fields.keys(), (path, fields.keys())
        assert fields["language"] == "en"
        session = path.stem.split("_")[1]
        assert f"session {session})" in fields["speaker"], path
        assert fields["date"] in {"2023-09-19", "2024-09-24"}, path
        assert body.strip() and len(body) <= 6500, (path, len(body))


def test_chinese_excerpts() -> None:
    lines = (DEMO / "chinese" / "reports-excerpts.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert 12 <= len(records) <= 24
    assert len({r["id"] for r in records}) == len(records)
    for rec in records:
        assert set(rec) == ZH_FIELDS, rec["id"]
        assert rec["language"] == "zh"
        assert rec["source"].startswith("https://zh.wikisource.org/wiki/")
        assert 500 <= len(rec["text"]) <= 2500, rec["id"]
        assert "\n\n\n" not in rec["text"], rec["id"]  # blank-line runs were cleaned
        assert 3 <= len(rec["text"].split("\n\n")) <= 6, rec["id"]
    assert {r["speaker"] for r in records} == {"李强", "李克强", "习近平"}


def test_seed_sentences_occur_verbatim(seeds: list[dict]) -> None:
    cache: dict[str, list[str]] = {}
    for seed in seeds:
        assert set(seed) == {"source", "text", "frames", "spans", "language"}, seed
        texts = cache.setdefault(seed["source"], haystacks(seed["source"]))
        assert any(seed["text"] in t for t in texts), (seed["source"], seed["text"][:60])
        assert seed["text"] == seed["text"].strip()


def test_seed_frames_and_spans_are_valid(seeds: list[dict]) -> None:
    for seed in seeds:
        frames = seed["frames"]
        assert len(frames) <= 3 and len(set(frames)) == len(frames), seed["text"][:60]
        assert set(frames) <= FRAMES, frames
        previous_end = 0
        for span in sorted(seed["spans"], key=lambda s: s["start"]):
            assert span["label"] == "Slogan"
            assert previous_end <= span["start"] < span["end"] <= len(seed["text"]), span
            covered = seed["text"][span["start"]:span["end"]]
            assert covered == covered.strip() and covered, (seed["text"][:40], span)
            previous_end = span["end"]


def test_seed_frames_match_the_shipped_scheme() -> None:
    scheme = tomllib.loads((REPO / "annotator/schemes/data/framing.toml").read_text(encoding="utf-8"))
    assert {f["id"] for f in scheme["frames"]} == FRAMES


def test_seed_counts(seeds: list[dict]) -> None:
    assert len(seeds) >= 160
    per_language = collections.Counter(s["language"] for s in seeds)
    for language, minimum in MIN_PER_LANGUAGE.items():
        assert per_language[language] >= minimum, (language, per_language[language])
    assert per_language["ca"] + per_language["es"] >= 10
    assert per_language["fr"] + per_language["gl"] + per_language["cs"] >= 3
    per_frame = collections.Counter(f for s in seeds for f in s["frames"])
    assert {f: per_frame[f] for f in FRAMES if per_frame[f] < 6} == {}
    assert sum(1 for s in seeds if s["spans"]) >= 60
    assert sum(1 for s in seeds if not s["frames"]) >= 10
    assert len({(s["source"], s["text"]) for s in seeds}) == len(seeds)


def test_seed_language_matches_source(seeds: list[dict]) -> None:
    expected = {"chinese": "zh", "ungdc": "en", "ParlaMint-AT": "de", "ParlaMint-IT": "it",
                "ParlaMint-GR": "el", "ParlaMint-ES-CT": "ca", "ParlaMint-ES-GA": "gl",
                "ParlaMint-FR": "fr", "ParlaMint-CZ": "cs"}
    for seed in seeds:
        parts = seed["source"].split("/")
        folder = parts[1] if parts[0] == "parlamint" else parts[0]
        assert "-en_" not in parts[-1], "seeds come from original-language files"
        assert seed["language"] == expected[folder], seed["source"]


def test_sources_md_mentions_each_folder() -> None:
    text = (DEMO / "SOURCES.md").read_text(encoding="utf-8")
    for folder in sorted(p.name for p in DEMO.iterdir() if p.is_dir()):
        assert f"{folder}/" in text, folder
    for must in ("CC BY 4.0", "machine translation", "CC0", "Article 5", "seed-labels.jsonl"):
        assert must in text, must


def test_glossary() -> None:
    rows = (GLOSSARY_DIR / "zh_en_political_terms.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "chinese\tenglish\tnote\tsource\tvariants"
    entries = [row.split("\t") for row in rows[1:]]
    assert len(entries) == 83 and all(len(e) == 5 and all(e[:4]) for e in entries)
    sources = (GLOSSARY_DIR / "SOURCES.md").read_text(encoding="utf-8")
    assert "unknown" in sources and "fact to check" in sources
    # the formulations the tool was made for, each with where its rendering was published, or
    # a plain statement that it could not be checked
    by_phrase = {e[0]: e for e in entries}
    for phrase in ("网络强国", "网络安全屏障", "党管互联网", "网络空间命运共同体", "网信事业"):
        _, rendering, note, source, _ = by_phrase[phrase]
        assert phrase in sources and rendering in sources
        assert "http" in source or ("UNVERIFIED" in note and "none verified" in source), phrase
    assert "UNVERIFIED" in by_phrase["网络安全屏障"][2]
