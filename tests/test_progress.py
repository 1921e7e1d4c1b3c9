"""Progress output: on a terminal, bars that give way to one clean final line per step and never
share a line with other output; through a pipe or into a log, plain lines and no control codes."""

from __future__ import annotations

import io
import re

from _ml_fixtures import tiny_frames_dir, tiny_spans_dir  # noqa: F401
from click.testing import CliRunner

from annotator import progress
from annotator.cli import cli
from annotator.progress import Bars, write_line

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def shown_lines(output: str) -> list[str]:
    """What a terminal finally shows on each line: after the last carriage return, escapes removed."""
    return [ANSI.sub("", line.rsplit("\r", 1)[-1]).rstrip() for line in output.split("\n")]


def test_on_a_terminal_each_step_ends_in_a_clean_final_line(monkeypatch):
    buf = io.StringIO()

    def emit(text: str, err: bool) -> None:
        buf.write(text + "\n")

    with Bars(unit="seg", stream=buf, terminal=True) as bars:
        for done in range(0, 101, 10):
            bars.update("suggest:spans", done, 100)
            if done == 50:
                write_line("a line printed while the bar runs", write=emit)
        bars.update("suggest:frames", 3, 10)  # unfinished when the block ends
    write_line("the next output", write=emit)
    lines = shown_lines(buf.getvalue())
    assert "\r" in buf.getvalue()  # there were bars
    assert "a line printed while the bar runs" in lines  # on a line of its own, the bar cleared first
    assert any(re.fullmatch(r"suggest:spans 100/100 seg in \d+\.\d s(, [\d.,]+ seg/s)?", line) for line in lines)
    assert any(re.fullmatch(r"suggest:frames 3/10 seg in \d+\.\d s.*", line) for line in lines)
    assert lines[-2:] == ["the next output", ""]


def test_without_a_terminal_plain_lines_now_and_then(monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    buf = io.StringIO()
    with Bars(unit="speech", stream=buf, terminal=False) as bars:
        for done in range(0, 1001):
            bars.update("segment", done, 1000)
        bars.update("store", 0, 5)  # reported only at its start
    out = buf.getvalue()
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    periodic = [line for line in lines if line.endswith("%)")]
    assert 5 <= len(periodic) <= 10  # a tenth of the step apart, not every update
    assert periodic[0] == "segmenting 100/1000 speech (10 %)"
    assert re.fullmatch(r"segmenting 1000/1000 speech in \d+\.\d s(, [\d.,]+ speech/s)?", lines[-2])
    assert re.fullmatch(r"saving 0/5 speech in \d+\.\d s", lines[-1])


def _project(tmp_path):
    from annotator.store import Store

    folder = tmp_path / "speeches"
    folder.mkdir()
    (folder / "a.txt").write_text("La France est une grande nation. Nous défendrons la République.", encoding="utf-8")
    (folder / "b.txt").write_text("我们要建设网络强国。坚持党管互联网。", encoding="utf-8")
    db = tmp_path / "p.db"
    return folder, db, Store


def test_commands_through_a_pipe_print_no_control_codes_and_a_final_line_per_step(tmp_path, tiny_frames_dir,
                                                                                  tiny_spans_dir):
    from annotator.services.models import register_and_activate

    folder, db, Store = _project(tmp_path)
    runner = CliRunner()
    imported = runner.invoke(cli, ["import", str(folder), "--db", str(db)])
    assert imported.exit_code == 0, imported.output
    assert re.search(r"^segmenting 2/2 speech in \d+\.\d s", imported.output, re.M)
    store = Store.open(db)
    register_and_activate(store, tiny_frames_dir)
    register_and_activate(store, tiny_spans_dir)
    n = store.counts()["segments"]
    store.close()
    result = runner.invoke(cli, ["suggest", "--db", str(db)])
    assert result.exit_code == 0, result.output
    for out in (imported.output, result.output):
        assert "\x1b" not in out and "\r" not in out
    for step in ("suggest:glossary", "suggest:frames", "suggest:spans"):
        assert re.search(rf"^{step} {n}/{n} seg in \d+\.\d s", result.output, re.M), result.output
    assert re.search(r"^suggest:speeches 2/2 speech in \d+\.\d s", result.output, re.M), result.output
