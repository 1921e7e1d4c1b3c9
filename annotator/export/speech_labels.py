"""Which imported speech a speech-level label record is about.

Document-level data sets come in as they are: a record with ``frames`` and no segment text or
spans names its speech by

* ``speech_hash``: the speech's content hash, or its key (the first 16 characters), which our
  own export writes and which holds across projects;
* ``speech_id``: a number is the speech's id in this project (as ``annotator status`` and the
  screen show it), a string the id the corpus gave it on import (``id`` in its front matter,
  JSONL or CSV record: the speech's external id);
* ``text``: the speech's full text, as it was imported (line endings and surrounding blank space
  aside); a ``title`` given beside it must then be the speech's.

A record says it is speech-level with ``"level": "speech"``; one without segment text, or whose
text is a whole speech's and not a segment's, is taken as one too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotator.store import Speech, Store
from annotator.store.speeches import KEY_LENGTH, content_hash, speech_key

REFERENCE_FIELDS = ("speech_hash", "speech_id", "speech")


def says_speech_level(meta: Mapping[str, Any]) -> bool:
    """Whether a record (or the metadata another tool's task carries) says it is about a whole speech."""
    return meta.get("level") == "speech"


def is_speech_record(row: Mapping[str, Any]) -> bool:
    """Whether a whole JSONL record is about a whole speech: it says so, or it names a speech
    and has no text of its own."""
    if says_speech_level(row):
        return True
    return row.get("level") in (None, "") and not isinstance(row.get("text"), str) and \
        any(row.get(f) not in (None, "") for f in REFERENCE_FIELDS)


def _text_forms(text: str) -> list[str]:
    """The text as given, and as an import would have stored it."""
    unix = text.replace("\r\n", "\n").replace("\r", "\n")
    return list(dict.fromkeys([text, unix, unix.strip()]))


class SpeechIndex:
    """The project's speeches, looked up by hash, key, id, external id or text."""

    def __init__(self, store: Store) -> None:
        self.speeches: dict[int, Speech] = {sp.id: sp for sp in store.speeches()}
        self.by_hash = {sp.content_hash: sp.id for sp in self.speeches.values()}
        self.by_key = {speech_key(sp.content_hash): sp.id for sp in self.speeches.values()}
        self.by_external: dict[str, list[int]] = {}
        for sp in self.speeches.values():
            if sp.external_id:
                self.by_external.setdefault(sp.external_id, []).append(sp.id)

    def with_text(self, text: str) -> int | None:
        """The speech whose full text this is, or None."""
        for form in _text_forms(text):
            found = self.by_hash.get(content_hash(form))
            if found is not None:
                return found
        return None

    def resolve(self, meta: Mapping[str, Any], text: str) -> tuple[int | None, str]:
        """The speech a record names, or None and what is wrong (one line, without the place)."""
        speech_id, problem = self._named(meta, text)
        if speech_id is None:
            return None, problem
        title = meta.get("title") if isinstance(meta.get("title"), str) else ""
        own = self.speeches[speech_id].title
        if text and self.with_text(text) != speech_id:
            return None, f"the text is not speech {speech_id}'s text"
        if title.strip() and own.strip() and title.strip() != own.strip():
            return None, f"title {title!r} is not speech {speech_id}'s title {own!r}"
        return speech_id, ""

    def _named(self, meta: Mapping[str, Any], text: str) -> tuple[int | None, str]:
        digest = meta.get("speech_hash")
        if isinstance(digest, str) and digest:
            found = self.by_hash.get(digest) if len(digest) > KEY_LENGTH else self.by_key.get(digest)
            return (found, "") if found is not None else (None, f"no speech with hash {digest!r} in this project")
        nested = meta.get("speech")
        given = meta.get("speech_id", nested.get("id") if isinstance(nested, dict) else None)
        if isinstance(given, bool):
            given = None
        if isinstance(given, int):
            return (given, "") if given in self.speeches else (None, f"no speech with id {given} in this project")
        if isinstance(given, str) and given:
            found = self.by_external.get(given, [])
            if len(found) == 1:
                return found[0], ""
            if found:
                return None, (f"speech id {given!r} names {len(found)} imported speeches; give speech_hash "
                              "or the speech's text")
            return None, f"no speech imported with id {given!r}"
        if text:
            found = self.with_text(text)
            return (found, "") if found is not None else (None, "no speech with this text")
        return None, "no speech_hash, speech_id or text says which speech these frames are for"
