"""The project's train/dev/test sides, one per speech (placed by ``annotator.splits``)."""

from __future__ import annotations

from collections.abc import Mapping

from annotator.store.base import StorePart, utcnow


class SplitSides(StorePart):
    def split_sides(self) -> dict[str, str]:
        """Speech content hash → "train" | "dev" | "test", for every speech placed so far."""
        return {r["speech_hash"]: r["side"] for r in self.db.query("SELECT speech_hash, side FROM split_sides")}

    def record_split_sides(self, sides: Mapping[str, str]) -> int:
        """Keep the sides of newly placed speeches (a placed speech keeps its side); returns how many were new."""
        with self.write():
            before = self.db["split_sides"].count
            now = utcnow()
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO split_sides (speech_hash, side, assigned_at) VALUES (?, ?, ?)",
                [(h, side, now) for h, side in sides.items()])
            return self.db["split_sides"].count - before
