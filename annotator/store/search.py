"""Finding segments: the list's filters and full-text search, and filling the index in bulk.

Three full-text indexes (see :mod:`annotator.store.schema`): ``segments_fts`` and
``translations_fts`` index words (accents ignored), ``segments_cjk_fts`` indexes the
trigrams of Chinese, Japanese and Korean segments, which are written without spaces.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from annotator.errors import AnnotatorError
from annotator.store.base import StorePart, scalar
from annotator.store.schema import CJK_LANGUAGES
from annotator.text import SUBSTRING_SEARCHED_CHAR

# The per-row triggers that index new segments (written by schema step 4), which a bulk
# import sets aside while it indexes a batch at a time.
SEGMENT_INSERT_TRIGGERS = ("segments_ai", "segments_cjk_fts_ai")  # sqlite-utils names the first
# BM25 scores are negative, better ones lower: a translation's is scaled towards 0, so that the
# same words in the original rank first.
TRANSLATION_WEIGHT = 0.5


def word_query(query: str) -> str:
    """An FTS5 query for every word of ``query`` in any order, the last one as a prefix: each
    word quoted (so FTS syntax in it is text), words without a letter or digit left out."""
    words = [w for w in query.split() if any(c.isalnum() for c in w)]
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    return " ".join(quoted[:-1] + [quoted[-1] + " *"]) if quoted else '""'


@dataclass(frozen=True)
class SegmentFilter:
    """What the segment list shows. Empty fields mean "any"."""

    language: str = ""
    speech_id: int | None = None
    status: str = ""  # an annotation status, "untouched" (no decision yet) or ""
    label: str = ""  # a frame label the annotator chose, or the model suggested
    annotator: str = ""
    query: str = ""  # full-text search in the original and the translation
    assigned_to: str = ""


class Search(StorePart):
    def segment_ids(self, flt: SegmentFilter | None = None, order: str = "document") -> list[int]:
        """Ids of the segments a filter selects, in reading order (ints only: cheap for 100k)."""
        flt = flt or SegmentFilter()
        where, params = ["1=1"], []
        if flt.language:
            where.append("s.language = ?")
            params.append(flt.language)
        if flt.speech_id is not None:
            where.append("s.speech_id = ?")
            params.append(flt.speech_id)
        if flt.status == "untouched":
            where.append("NOT EXISTS (SELECT 1 FROM annotations a WHERE a.segment_id = s.id AND a.annotator = ?)")
            params.append(flt.annotator)
        elif flt.status:
            where.append("EXISTS (SELECT 1 FROM annotations a WHERE a.segment_id = s.id AND a.annotator = ? AND a.status = ?)")
            params += [flt.annotator, flt.status]
        if flt.label:
            where.append(
                "(EXISTS (SELECT 1 FROM annotations a, json_each(a.frames) j WHERE a.segment_id = s.id "
                "AND a.annotator = ? AND j.value = ?) OR EXISTS (SELECT 1 FROM suggestions g "
                "WHERE g.segment_id = s.id AND g.kind = 'frame' AND g.label = ? AND "
                "g.model_version IN (SELECT version FROM active_models)))"
            )
            params += [flt.annotator, flt.label, flt.label]
        if flt.assigned_to:
            where.append("EXISTS (SELECT 1 FROM assignments x WHERE x.segment_id = s.id AND x.annotator = ?)")
            params.append(flt.assigned_to)
        hits = None
        if flt.query:  # every hit: a search never stops short of what it finds
            hits = self.search(flt.query)
            if not hits:
                return []
        sql = f"SELECT s.id FROM segments s WHERE {' AND '.join(where)} ORDER BY s.speech_id, s.position"
        ids = [r[0] for r in self.db.execute(sql, params)]
        if hits is None:
            return ids
        selected = set(ids)
        return [i for i in hits if i in selected]  # a search's hits keep their order: best first

    def search(self, query: str, limit: int | None = None) -> list[int]:
        """Segment ids whose original text or translation matches ``query`` (all of them, or
        the first ``limit``), the most relevant first.

        Words in spaced scripts: every word, in any order, the last one as a prefix ("seance
        lev" finds "La séance est levée."), accents ignored; ranked by BM25 (rare words, short
        segments first; a hit in the original before the same hit in a translation).
        Chinese, Japanese or Korean: the exact substring, in reading order. FTS syntax in the
        query is matched as text, never run.
        """

        query = " ".join(query.split())
        if not query:
            return []
        limit = -1 if limit is None else limit  # SQLite: LIMIT -1 is no limit
        if SUBSTRING_SEARCHED_CHAR.search(query) or not any(c.isalnum() for c in query):
            return self._search_substring(query, limit)  # no words to look up
        match = word_query(query)
        try:
            rows = self.db.execute(
                "SELECT id FROM ("
                "  SELECT rowid AS id, bm25(segments_fts) AS score FROM segments_fts WHERE segments_fts MATCH ?"
                "  UNION ALL SELECT t.segment_id, bm25(translations_fts) * ? FROM translations_fts f"
                "  JOIN translations t ON t.id = f.rowid WHERE translations_fts MATCH ?"
                ") GROUP BY id ORDER BY MIN(score), id LIMIT ?",
                [match, TRANSLATION_WEIGHT, match, limit],
            ).fetchall()
        except sqlite3.OperationalError:  # a query the word index cannot parse: match it literally
            return self._search_substring(query, limit)
        return [r[0] for r in rows]

    def _search_substring(self, query: str, limit: int) -> list[int]:
        """Segments whose original or translation contains ``query`` as it is, by id (reading order)."""
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if len(query) >= 3:
            # CJK segments through their trigram index (quoted: matched as a phrase); the other
            # segments and the translations, which that index does not hold, by a scan.
            phrase = '"' + query.replace('"', '""') + '"'
            rows = self.db.execute(
                "SELECT rowid FROM segments_cjk_fts WHERE segments_cjk_fts MATCH ? "
                f"UNION SELECT id FROM segments WHERE language NOT IN {CJK_LANGUAGES} AND text LIKE ? ESCAPE '\\' "
                "UNION SELECT segment_id FROM translations WHERE text LIKE ? ESCAPE '\\' LIMIT ?",
                [phrase, like, like, limit],
            ).fetchall()
            return sorted(r[0] for r in rows)
        # Too short for trigrams (a two-character Chinese word): a scan of everything.
        rows = self.db.execute(
            "SELECT id FROM segments WHERE text LIKE ? ESCAPE '\\' "
            "UNION SELECT segment_id FROM translations WHERE text LIKE ? ESCAPE '\\' LIMIT ?",
            [like, like, limit],
        ).fetchall()
        return sorted(r[0] for r in rows)

    @contextlib.contextmanager
    def bulk_segments(self) -> Iterator[Callable[[], None]]:
        """Inside an open write transaction: add many segments, index them for search in bulk.

        The full-text trigger indexes one row at a time; for a large import it is dropped and the
        new rows are indexed a batch at a time: call the yielded ``flush()`` now and then (an
        import does, while its workers segment the next speeches), and once more at the end.
        It all stays inside the caller's transaction (SQLite's DDL is transactional), so a
        failure leaves no trace.
        """
        if not self.db.conn.in_transaction:
            raise AnnotatorError("bulk_segments() must run inside `with store.write():`")
        indexed = [scalar(self.db, "SELECT COALESCE(MAX(id), 0) FROM segments")]
        triggers = [r[0] for r in self.db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?)", SEGMENT_INSERT_TRIGGERS)]
        for name in SEGMENT_INSERT_TRIGGERS:
            self.db.execute(f"DROP TRIGGER IF EXISTS {name}")

        def flush() -> None:
            since = indexed[0]
            self.db.execute("INSERT INTO segments_fts(rowid, text) SELECT id, text FROM segments WHERE id > ?", [since])
            self.db.execute(
                f"INSERT INTO segments_cjk_fts(rowid, text) SELECT id, text FROM segments WHERE id > ? "
                f"AND language IN {CJK_LANGUAGES}", [since])
            indexed[0] = scalar(self.db, "SELECT COALESCE(MAX(id), 0) FROM segments")

        yield flush
        flush()
        for sql in triggers:
            self.db.execute(sql)
