"""Work queues: which annotator is to decide on which segment."""

from __future__ import annotations

from collections.abc import Iterable

from annotator.store.base import StorePart, scalar, utcnow


class Assignments(StorePart):
    def assign(self, pairs: Iterable[tuple[int, str]]) -> int:
        """Assign (segment id, annotator) pairs; returns how many were not assigned already."""
        with self.write():
            now = utcnow()
            before = scalar(self.db, "SELECT COUNT(*) FROM assignments")
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO assignments (segment_id, annotator, created_at) VALUES (?, ?, ?)",
                [(s, a, now) for s, a in pairs])
            return scalar(self.db, "SELECT COUNT(*) FROM assignments") - before

    def assignments(self, annotator: str | None = None) -> list[tuple[int, str]]:
        sql, params = "SELECT segment_id, annotator FROM assignments", []
        if annotator:
            sql += " WHERE annotator = ?"
            params.append(annotator)
        return [tuple(r) for r in self.db.execute(sql + " ORDER BY segment_id, annotator", params).fetchall()]
