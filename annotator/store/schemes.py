"""The label schemes a project was annotated with (name, hash and text, as registered)."""

from __future__ import annotations

from annotator.store.base import StorePart, utcnow


class Schemes(StorePart):
    def register_scheme(self, name: str, hash_: str, source: str, toml_text: str) -> None:
        with self.write():
            self.db["schemes"].upsert(
                {"name": name, "hash": hash_, "source": source, "toml": toml_text, "registered_at": utcnow()},
                pk="name")
