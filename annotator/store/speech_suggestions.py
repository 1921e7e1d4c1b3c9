"""What models suggest for whole speeches: every label's score per model version, with the
threshold it was judged by (so the speech view shows both, and which labels pass)."""

from __future__ import annotations

from collections.abc import Mapping

from annotator.store.base import StorePart, utcnow
from annotator.store.records import SpeechScore


class SpeechSuggestions(StorePart):
    def replace_speech_scores(self, speech_id: int, model_version: str,
                              scores: Mapping[str, tuple[float, float]]) -> None:
        """One version's ``{label: (score, threshold)}`` for a speech, replacing its earlier ones."""
        with self.write():
            self.db.execute("DELETE FROM speech_suggestions WHERE speech_id = ? AND model_version = ?",
                            [speech_id, model_version])
            now = utcnow()
            self.db.conn.executemany(
                "INSERT INTO speech_suggestions (speech_id, model_version, label, score, threshold, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(speech_id, model_version, label, float(score), float(threshold), now)
                 for label, (score, threshold) in scores.items()])

    def speech_scores(self, speech_id: int, model_version: str) -> list[SpeechScore]:
        """Every label's score for a speech from one version, highest first."""
        return [SpeechScore(**r) for r in self.db.query(
            "SELECT speech_id, model_version, label, score, threshold FROM speech_suggestions "
            "WHERE speech_id = ? AND model_version = ? ORDER BY score DESC, label", [speech_id, model_version])]

    def speeches_without_scores(self, model_version: str) -> list[int]:
        """Speeches with segments that this version has not scored yet."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM speeches p WHERE EXISTS (SELECT 1 FROM segments s WHERE s.speech_id = p.id) "
            "AND NOT EXISTS (SELECT 1 FROM speech_suggestions g WHERE g.speech_id = p.id AND g.model_version = ?) "
            "ORDER BY id", [model_version])]

    def speech_score_counts(self) -> dict[str, int]:
        """Speeches scored, per model version."""
        return {r["model_version"]: r["n"] for r in self.db.query(
            "SELECT model_version, COUNT(DISTINCT speech_id) AS n FROM speech_suggestions GROUP BY model_version")}
