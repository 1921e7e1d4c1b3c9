"""The held-out benchmark's offset mapping (bench/heldout.py): SemEval's slogan offsets count
the articles' \\r\\n, the imported text has \\n, and the spans go onto the tool's segments."""

import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("heldout", Path(__file__).parent.parent / "bench" / "heldout.py")
heldout = importlib.util.module_from_spec(spec)
sys.modules["heldout"] = heldout  # its dataclasses look their module up
spec.loader.exec_module(heldout)


def test_offsets_survive_line_endings():
    raw = "Title\r\n\r\nWe say \"Make it great\".\rEnd"
    text, where = heldout.normalise(raw)
    assert text == "Title\n\nWe say \"Make it great\".\nEnd"
    s = raw.index("Make")
    e = raw.index("\".")
    assert raw[s:e] == "Make it great"
    assert text[where[s]:where[e]] == "Make it great"
    assert where[len(raw)] == len(text)
    assert text[where[raw.index("End")]:] == "End"


def test_spans_go_onto_the_segments_that_hold_them():
    text = "One two. Three four five."
    segments = [(0, 8), (9, 25)]  # "One two." / "Three four five."
    # a span inside the second segment, and one across the boundary (its blank piece is lost)
    pieces = heldout.onto_segments([(15, 19), (4, 14)], segments)
    assert [[text[a + s:a + e] for s, e, _ in p] for p, (a, _) in zip(pieces, segments)] == [["two."], ["four", "Three"]]
    assert heldout.trimmed(" a b ", [(0, 5, "Slogan"), (0, 1, "Slogan")]) == [(1, 4, "Slogan")]
