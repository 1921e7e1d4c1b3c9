"""The label schemes a project was annotated with (name, hash and text, as registered)."""

from __future__ import annotations

from annotator.store.base import StorePart, first, utcnow


class Schemes(StorePart):
    def register_scheme(self, name: str, hash_: str, source: str, toml_text: str) -> None:
        """Record the scheme under its name, where it is new or changed. Opening the screen on
        a project calls this: a read that finds it registered as it is writes nothing (so a
        full disk or a colleague's write lock does not keep anyone from reading)."""
        same = {"hash": hash_, "source": source}
        if first(self.db, "SELECT hash, source FROM schemes WHERE name = ?", [name]) == same:
            return
        with self.write():
            self.db["schemes"].upsert(
                {"name": name, "hash": hash_, "source": source, "toml": toml_text, "registered_at": utcnow()},
                pk="name")
