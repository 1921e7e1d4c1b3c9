"""The kinds of model version the registry keeps (``models/<kind>/<version>/``) and the project
activates one of each: the names as the registry's folders, the ``models`` table and the
versions' ``meta.json`` write them."""

from __future__ import annotations

ENCODER = "encoder"  # the base encoder the others read
FRAMES = "frames"  # frame labels of a segment
SPANS = "spans"  # slogan spans in a segment
TRANSLATION = "translation"  # machine translation into English
SPEECH_FRAMES = "speech_frames"  # frame labels of a speech as a whole

KINDS = (ENCODER, FRAMES, SPANS, TRANSLATION, SPEECH_FRAMES)
SUGGESTING_KINDS = (FRAMES, SPANS)  # the kinds a segment's suggestions come from
