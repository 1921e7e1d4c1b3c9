"""``annotator import``: files → speeches and segments in the store, all or nothing.

Everything is read, checked, segmented and language-identified before the first write; then
one transaction adds it all. One bad record fails the whole import with ``file:line: problem``
and leaves the database as it was. Importing the same text again adds nothing (speeches are
keyed by the hash of their text).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.corpora.langid import detect_segment_languages, detect_speech_language
from annotator.corpora.languages import checked_language, normalise_language, unknown_language_message
from annotator.corpora.readers import RawSpeech, expand_paths, read_file
from annotator.corpora.segment import Piece, segment_text
from annotator.errors import InputError
from annotator.store import Store
from annotator.store.speeches import content_hash
from annotator.store.translations import ALIGNED_BY_POSITION
from annotator.progress import Progress
from annotator.ray_pool import RayOptions

PARALLEL_THRESHOLD = 400  # speeches; below this a process pool costs more than it saves
RAY_SPEECHES_PER_CALL = 16  # as the process pool's chunks


@dataclass
class PreparedSpeech:
    meta: dict[str, str]
    text: str
    content_hash: str
    language: str
    segments: list[tuple[int, int, str]]
    # English text per segment position, from the corpus itself (aligned by position), and the
    # corpus's English text of the whole speech, kept to be aligned sentence by sentence later.
    translations: dict[int, str] = field(default_factory=dict)
    translation_source: str = ""
    translation_text: str = ""


@dataclass
class ImportReport:
    files: int = 0
    speeches_added: int = 0
    speeches_skipped: int = 0
    segments_added: int = 0
    translations_added: int = 0
    languages: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        langs = ", ".join(f"{k or '?'} {v}" for k, v in self.languages.most_common())
        text = (f"{self.files} file(s): {self.speeches_added} speech(es) added, "
                f"{self.speeches_skipped} already present; {self.segments_added} segments")
        if self.translations_added:
            text += f", {self.translations_added} corpus translations"
        return text + (f" ({langs})" if langs else "")


def align_by_length(pieces: Sequence[Piece], translation: str) -> dict[int, str]:
    """Give each original segment the translated sentences that fall at the same relative place.

    The corpus translates whole utterances; its sentences rarely match ours one to one. A
    translated sentence goes to the original segment that covers the middle of its relative
    position (lengths are roughly proportional across languages), keeping order. This is the
    alignment until the encoder is there: then ``services.corpus_translations`` aligns the
    sentences by their meaning.
    """
    target = segment_text(translation, "en")
    if not pieces or not target:
        return {}
    if len(target) == len(pieces):
        return {i: t.text for i, t in enumerate(target)}
    total_src = sum(len(p.text) for p in pieces)
    total_tgt = sum(len(t.text) for t in target)
    bounds, acc = [], 0
    for p in pieces:
        acc += len(p.text)
        bounds.append(acc / total_src)
    out: dict[int, list[str]] = {}
    acc = 0
    for t in target:
        mid = (acc + len(t.text) / 2) / total_tgt
        acc += len(t.text)
        index = next((i for i, b in enumerate(bounds) if mid <= b), len(pieces) - 1)
        out.setdefault(index, []).append(t.text)
    return {i: " ".join(parts) for i, parts in out.items()}


def prepare(raw: RawSpeech, language: str | None = None, segment_langid: bool = True) -> PreparedSpeech:
    """Segment a speech and identify its languages (runs in worker processes for big imports)."""
    lang = language or raw.meta.get("language") or detect_speech_language(raw.text)
    pieces = segment_text(raw.text, lang or "en")
    if not pieces:
        raise InputError(raw.path, "no text to segment", raw.line)
    if language or not segment_langid:
        seg_langs = [lang] * len(pieces)
    else:
        seg_langs = detect_segment_languages([p.text for p in pieces], lang)
    # (start, end, language): the store slices the text, so worker processes send it only once
    segments = [(p.start, p.end, sl) for p, sl in zip(pieces, seg_langs)]
    meta = dict(raw.meta)
    meta["language"] = lang
    if "source" not in meta:
        meta["source"] = Path(raw.path).name + (f":{raw.line}" if raw.line else "")
    prepared = PreparedSpeech(meta=meta, text=raw.text, content_hash=content_hash(raw.text),
                              language=lang, segments=segments)
    if raw.translation and lang != "en":
        prepared.translations = align_by_length(pieces, raw.translation)
        prepared.translation_source = raw.translation_source
        prepared.translation_text = raw.translation
    return prepared


def _prepare_star(args: tuple[RawSpeech, str | None, bool]) -> PreparedSpeech:
    return prepare(*args)


def read_all(paths: Sequence[Path], fmt: str = "auto", store: Store | None = None) -> tuple[list[Path], list[RawSpeech]]:
    files = expand_paths(list(paths))
    if not files:
        raise InputError(", ".join(str(p) for p in paths), "no speech files found")
    if store is not None:
        store.refuse_own_files(files)
    raws: list[RawSpeech] = []
    for f in files:
        raws.extend(read_file(f, fmt))
    for raw in raws:
        _check_language_field(raw)
    return files, raws


def _check_language_field(raw: RawSpeech) -> None:
    """A record's ``language`` normalised (``deu`` → ``de``), or refused with the nearest codes:
    a typo would otherwise skip that language's segmentation rules without a word."""
    value = raw.meta.get("language")
    if not value:
        return
    code = normalise_language(value)
    if code is None:
        raise InputError(raw.path, unknown_language_message(value, "field 'language'"), raw.line)
    raw.meta["language"] = code


def import_paths(
    store: Store,
    paths: Sequence[Path],
    fmt: str = "auto",
    language: str | None = None,
    segment_langid: bool = True,
    progress: Progress | None = None,
    workers: int | None = None,
    ray: RayOptions | None = None,
) -> ImportReport:
    """Import ``paths`` into ``store``, all or nothing. Speeches are segmented and their languages
    detected in worker processes (``workers``; from :data:`PARALLEL_THRESHOLD` speeches), or on
    Ray actors with ``ray`` (``--ray``); this process stores them, in input order, either way."""
    if language:
        language = checked_language(language, "--lang")
    files, raws = read_all(paths, fmt, store)
    report = ImportReport(files=len(files))
    seen: set[str] = set()
    todo = []
    for raw in raws:
        h = content_hash(raw.text)
        if h in seen or store.has_speech(h):
            report.speeches_skipped += 1
            continue
        seen.add(h)
        todo.append(raw)
    # Workers segment while this process stores: both inside one transaction, so an error in
    # any speech rolls the whole import back and the database is as it was.
    bulk = store.bulk_segments() if len(todo) >= PARALLEL_THRESHOLD else contextlib.nullcontext()
    with store.write(), bulk as flush_index:
        for i, item in enumerate(_prepare_all(todo, language, segment_langid, workers, ray), start=1):
            _store_one(store, item, report)
            if flush_index and i % 100 == 0:
                flush_index()  # index for search while the workers segment the next speeches
            if progress and (i % 50 == 0 or i == len(todo)):
                progress("segment", i, len(todo))
    return report


def _store_one(store: Store, item: PreparedSpeech, report: ImportReport) -> None:
    speech_id = store.add_speech(
        {**item.meta, "external_id": item.meta.get("id", ""), "content_hash": item.content_hash,
         "text": item.text}, item.segments)
    if speech_id is None:
        report.speeches_skipped += 1
        return
    report.speeches_added += 1
    report.segments_added += len(item.segments)
    report.languages[item.language] += 1
    if item.translation_text:
        store.add_speech_translation(speech_id, "en", item.translation_text, item.translation_source)
    if item.translations:
        segs = store.segments_of_speech(speech_id)
        for position, english in item.translations.items():
            store.add_translation(segs[position].id, "en", english, "corpus", item.translation_source,
                                  alignment=ALIGNED_BY_POSITION)
            report.translations_added += 1


def _prepare_all(raws: list[RawSpeech], language: str | None, segment_langid: bool,
                 workers: int | None, ray: RayOptions | None = None) -> Iterator[PreparedSpeech]:
    """Prepared speeches in input order; in worker processes when there are many, on Ray if asked."""
    args = [(r, language, segment_langid) for r in raws]
    if ray is not None:
        yield from _prepare_on_ray(args, ray)
        return
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    if len(args) < PARALLEL_THRESHOLD or workers <= 1:
        yield from map(_prepare_star, args)
        return
    # fork where there is one (as Python's default on Linux; a forkserver would be the workers'
    # parent instead of this process)
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        yield from pool.map(_prepare_star, args, chunksize=16)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_CHECK_SECONDS = 1.0


def _die_with_parent(parent: int) -> None:
    """A worker's first act: end when the import that started it ends, however it ends. A
    ``kill -9`` of the import gives its workers no word; without this they would wait for work
    forever (holding the memory of a language model each). On Linux the kernel sends the worker
    SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere, and as a second line,
    a thread checks every second that the parent is still the one that started it."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl took
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _prepare_on_ray(args: list[tuple[RawSpeech, str | None, bool]], options: RayOptions) -> Iterator[PreparedSpeech]:
    """:func:`prepare` on Ray actors, in input order. A bad record comes back as its error, raised
    here in its turn, so that the import fails on the same record, with the same line, as without Ray."""
    from annotator.ray_pool import connected, map_in_order

    if not args:
        return
    with connected(options):
        # pickled both ways, by us (Ray would, after failing to fit dataclasses into Arrow columns)
        rows = [{"args": pickle.dumps(a, protocol=pickle.HIGHEST_PROTOCOL)} for a in args]
        for row in map_in_order(rows, _RayPreparer, options, rows_per_call=RAY_SPEECHES_PER_CALL):
            if row["error"]:
                path, problem, line = json.loads(row["error"])
                raise InputError(path, problem, line)
            yield pickle.loads(row["prepared"])


class _RayPreparer:
    """A Ray actor's side of the import: a batch of raw speeches -> prepared speeches (or errors)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["args"])
        prepared, errors = np.full(n, b"", dtype=object), np.full(n, "", dtype=object)
        for i, args in enumerate(batch["args"]):
            try:
                prepared[i] = pickle.dumps(_prepare_star(pickle.loads(args)), protocol=pickle.HIGHEST_PROTOCOL)
            except InputError as exc:
                errors[i] = json.dumps([exc.path, exc.problem, exc.line])
        return {"prepared": prepared, "error": errors}
