"""The annotator names whose decisions are pre-annotations (a prior), not a person's.

Seed labels (annotator ``seed``, in every project) and imports marked ``--prior`` are priors:
``store.gold`` counts a prior's decision only where no person has made a usable one.
"""

from __future__ import annotations

from annotator.store.base import StorePart, utcnow


class Priors(StorePart):
    def prior_annotators(self) -> frozenset[str]:
        """Every annotator name that stands for pre-annotations in this project."""
        return frozenset(r[0] for r in self.db.execute("SELECT annotator FROM prior_annotators").fetchall())

    def is_prior(self, annotator: str) -> bool:
        return self.db.execute("SELECT 1 FROM prior_annotators WHERE annotator = ?", [annotator]).fetchone() is not None

    def add_prior(self, annotator: str, source: str) -> bool:
        """Record ``annotator`` as holding pre-annotations (``source``: where they came from, for
        people reading the database); returns whether it is new. A name stays a prior."""
        with self.write():
            cur = self.db.execute("INSERT OR IGNORE INTO prior_annotators (annotator, source, added_at) "
                                  "VALUES (?, ?, ?)", [annotator, source, utcnow()])
            return cur.rowcount > 0

    def has_decisions(self, annotator: str) -> bool:
        """Whether ``annotator`` has decided anything, on a segment or on a whole speech."""
        return any(self.db.execute(f"SELECT 1 FROM {table} WHERE annotator = ? LIMIT 1", [annotator]).fetchone()
                   for table in ("annotations", "speech_annotations"))
