"""Hostile files and names at every door a file comes in by — `import`, `import-labels` (every
format), `glossary import`, the keymap — each refused with one line, ``file:line: problem``, exit
status 2, the database as it was: nesting deep enough to exhaust Python's stack, wrong shapes,
lone surrogates, control characters in names, symbolic-link loops, FIFOs and devices (which must
not hang), garbage glossaries, an unterminated CSV quote. And a killed import leaves no worker
processes and no staging files behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from _team_fixtures import build_corpus
from annotator.cli import cli
from annotator.corpora.importer import import_paths
from annotator.errors import InputError
from annotator.store import Store

REPO = Path(__file__).resolve().parent.parent
DEEP = 5000  # levels: far past Python's recursion limit


def deep(levels: int = DEEP) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def project(tmp_path) -> tuple[Path, list[str]]:
    """A project of 3 English speeches (9 segments), no decisions; and its segments' texts."""
    db = tmp_path / "p.db"
    store = Store.open(db)
    build_corpus(store, 3, 0)
    texts = [s.text for s in store.iter_segments()]
    store.close()
    return db, texts


def state(db: Path) -> tuple:
    """What a failed command must leave as it was: every count, the glossary, every decision."""
    store = Store.open(db)
    try:
        decisions = store.db.execute("SELECT count(*) FROM annotations").fetchone()[0]
        return store.counts(), [tuple(vars(e).values()) for e in store.glossary()], decisions
    finally:
        store.close()


def assert_one_line(stderr: str, path: Path, line: int | None, problem: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert lines[0].startswith(f"annotator: error: {where}"), lines[0]
    assert problem in lines[0], lines[0]


def write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The command line in a process of its own, so that a hang fails the test (after ``timeout``)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   **(env or {})}
    try:
        return subprocess.run([sys.executable, "-m", "annotator", *args], capture_output=True, text=True,
                              env=environment, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"annotator {' '.join(args)} still ran after {timeout} s (it hangs)")


# ------------------------------------------------------------------- nesting too deep
def test_deeply_nested_json_and_front_matter_are_refused_by_import(tmp_path, store):
    jsonl = write(tmp_path / "deep.jsonl", '{"text": "A fine speech."}\n{"text": "Deep.", "x": ' + deep() + "}\n")
    with pytest.raises(InputError, match=r"deep\.jsonl:2: lists or objects nested more than 100 levels deep"):
        import_paths(store, [jsonl], language="en")
    front = write(tmp_path / "deep.md", "---\nspeaker: Ann\ntitle: " + deep() + "\n---\nA speech.\n")
    with pytest.raises(InputError, match=r"deep\.md:3: lists or objects nested more than 100 levels"):
        import_paths(store, [front], language="en")
    assert store.counts()["speeches"] == 0


LABEL_FILES = {  # format → (file name, text with the deep record on line 3)
    "prodigy": ("deep.jsonl", '{"text": "%s"}\n\n{"text": "%s", "meta": {"x": %s}}\n'),
    "labelstudio": ("deep.json", '[\n{"data": {"text": "%s"}},\n{"data": {"text": "%s", "x": %s}}\n]\n'),
    "jsonl": ("deep.jsonl", '{"text": "%s"}\n\n{"text": "%s", "x": %s}\n'),
}


@pytest.mark.parametrize("fmt", list(LABEL_FILES))
def test_deeply_nested_label_files_are_refused_in_every_format(project, tmp_path, fmt):
    db, texts = project
    name, template = LABEL_FILES[fmt]
    path = write(tmp_path / name, template % (texts[0], texts[1], deep()))
    before = state(db)
    result = CliRunner().invoke(cli, ["import-labels", str(path), "--format", fmt, "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert_one_line(result.stderr, path, 3, "nested more than 100 levels deep")
    assert state(db) == before


def test_a_deeply_nested_keymap_is_refused(tmp_path, monkeypatch):
    db = tmp_path / "p.db"
    Store.open(db).close()
    keymap = write(tmp_path / "keymap.toml", "[keys]\naccept = " + deep() + "\n")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(keymap))
    result = CliRunner().invoke(cli, ["annotate", "--db", str(db), "--annotator", "ann"])
    assert result.exit_code == 2, result.output
    assert_one_line(result.stderr, keymap, 2, "nested more than 100 levels deep")


# ----------------------------------------------------------- wrong shapes, bad strings
def prodigy(text: str, **fields) -> dict:
    return {"text": text, **fields}


def labelstudio(text: str, annotations) -> dict:
    return {"data": {"text": text}, "annotations": annotations}


SHAPES = {  # case → (format, the record, a part of the message)
    "answer is a list": ("prodigy", lambda t: prodigy(t, answer=["accept"]), "answer ['accept'] is not accept"),
    "a span is a number": ("prodigy", lambda t: prodigy(t, spans=[1]), "'spans' must be a list of objects; "
                                                                         "it holds a number (1)"),
    "spans is a number": ("prodigy", lambda t: prodigy(t, spans=1), "'spans' must be a list of objects, not a number"),
    "accept is a string": ("prodigy", lambda t: prodigy(t, accept="Political"), "'accept' must be a list of label"),
    "span start is true": ("prodigy", lambda t: prodigy(t, spans=[{"start": False, "end": True, "label": "Slogan"}]),
                           "span False-True: start and end must be whole numbers"),
    "span start forges a line": ("prodigy", lambda t: prodigy(t, spans=[{"start": "x\nannotator: imported 9",
                                                                        "end": 3, "label": "Slogan"}]),
                                 "span 'x\\nannotator: imported 9'-3: start and end must be whole numbers"),
    "frames is a number": ("jsonl", lambda t: {"text": t, "frames": 3}, "'frames' must be a list of label names, "
                                                                         "not a number (3)"),
    "speech frames is a number": ("jsonl", lambda t: {"level": "speech", "speech_id": 1, "frames": 3},
                                  "'frames' must be a list of label names"),
    "annotations is a number": ("labelstudio", lambda t: labelstudio(t, 5), "'annotations' must be a list of objects"),
    "an annotation is a string": ("labelstudio", lambda t: labelstudio(t, ["x"]), "it holds a string"),
    "result is a number": ("labelstudio", lambda t: labelstudio(t, [{"result": 5}]), "'result' must be a list"),
    "a result is a number": ("labelstudio", lambda t: labelstudio(t, [{"result": [5]}]), "'result' must be a list"),
    "value is a number": ("labelstudio", lambda t: labelstudio(t, [{"result": [{"type": "labels", "value": 5}]}]),
                          "a result's 'value' must be an object, not a number (5)"),
    "choices is a string": ("labelstudio", lambda t: labelstudio(t, [{"result": [
        {"type": "choices", "value": {"choices": "Political"}}]}]), "'value.choices' must be a list of label names"),
    "completed_by is a list": ("labelstudio", lambda t: labelstudio(t, [{"completed_by": [1], "result": []}]),
                               "'completed_by' must be a name, not a list"),
    "surrogate in the text": ("prodigy", lambda t: prodigy(t[:4] + "\ud800"), "a lone surrogate (U+D800)"),
    "surrogate in the annotator": ("prodigy", lambda t: prodigy(t, _annotator_id="x\udc00"),
                                   "a lone surrogate (U+DC00), which is not a character (a broken \\u escape?), "
                                   "at character 2 of '_annotator_id'"),
    "surrogate in a label studio name": ("labelstudio", lambda t: labelstudio(t, [
        {"completed_by": {"email": "\ud83d"}, "result": []}]), "a lone surrogate (U+D83D)"),
    "NUL in the annotator": ("prodigy", lambda t: prodigy(t, _annotator_id="ann\u0000x"),
                             "the annotator's name in '_annotator_id' holds a NUL character (U+0000) at character 4"),
    "escape in the annotator": ("prodigy", lambda t: prodigy(t, _annotator_id="ann\u001b[2J"),
                                "holds a control character (U+001B) at character 4"),
}


@pytest.mark.parametrize("case", list(SHAPES))
def test_wrong_shapes_and_bad_strings_in_label_files_are_one_line(project, tmp_path, case):
    db, texts = project
    fmt, record, problem = SHAPES[case]
    path = tmp_path / ("labels.json" if fmt == "labelstudio" else "labels.jsonl")
    good = labelstudio(texts[0], [{"result": []}]) if fmt == "labelstudio" else prodigy(texts[0])
    if fmt == "labelstudio":
        path.write_text("[\n" + json.dumps(good) + ",\n" + json.dumps(record(texts[1])) + "\n]\n", encoding="utf-8")
    else:
        path.write_text(json.dumps(good) + "\n" + json.dumps(record(texts[1])) + "\n", encoding="utf-8")
    before = state(db)
    result = CliRunner().invoke(cli, ["import-labels", str(path), "--format", fmt, "--db", str(db)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert_one_line(result.stderr, path, 3 if fmt == "labelstudio" else 2, problem)  # the line the task is on
    assert "\x1b" not in result.stderr and "\x00" not in result.stderr
    assert state(db) == before


@pytest.mark.parametrize("name, problem", [
    ("ann\x00x", "holds a NUL character (U+0000) at character 4"),
    ("ann\nx", "holds a control character (U+000A) at character 4"),
    ("ann\u202ex", "holds a control character (U+202E) at character 4"),
    (" ", "is empty"),
])
def test_an_annotator_name_with_a_control_character_is_refused(project, tmp_path, name, problem):
    db, texts = project
    path = write(tmp_path / "labels.jsonl", json.dumps(prodigy(texts[0], accept=["Political"])) + "\n")
    before = state(db)
    result = CliRunner().invoke(cli, ["import-labels", str(path), "--format", "prodigy", "--db", str(db),
                                      "--annotator", name])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("annotator: error: --annotator ") and problem in lines[0]
    assert state(db) == before
    ok = CliRunner().invoke(cli, ["import-labels", str(path), "--format", "prodigy", "--db", str(db),
                                  "--annotator", "Zoë Ng"],
                            env={"ANNOTATOR_NAME": name} if "\x00" not in name else {})  # (no NUL in the environment)
    assert ok.exit_code == 0, ok.output  # a bad $ANNOTATOR_NAME is no matter where --annotator names someone


@pytest.mark.parametrize("fmt", ["prodigy", "labelstudio", "jsonl"])
def test_a_byte_order_mark_is_read_by_import_labels_as_by_import(project, tmp_path, fmt):
    db, texts = project
    if fmt == "labelstudio":
        text = json.dumps([labelstudio(texts[0], [{"result": [{"type": "choices", "value": {"choices": ["Political"]}}]}])])
    else:
        text = json.dumps({"text": texts[0], ("accept" if fmt == "prodigy" else "frames"): ["Political"]}) + "\n"
    path = write(tmp_path / "bom.json", text, bom=True)
    result = CliRunner().invoke(cli, ["import-labels", str(path), "--format", fmt, "--db", str(db),
                                      "--annotator", "ann"])
    assert result.exit_code == 0, result.output
    store = Store.open(db)
    first = next(store.iter_segments())
    assert store.annotation(first.id, "ann").state.frames == ("Political",)
    store.close()


# --------------------------------------------------------- links, FIFOs and devices
def test_a_loop_of_symbolic_links_is_named_at_every_door(project, tmp_path, monkeypatch):
    db, _ = project
    loop = tmp_path / "loop.jsonl"
    other = tmp_path / "other.jsonl"
    os.symlink(other, loop)
    os.symlink(loop, other)
    before = state(db)
    for args in (["import", str(loop)], ["import-labels", str(loop), "--format", "prodigy"],
                 ["glossary", "import", str(loop)]):
        result = CliRunner().invoke(cli, [*args, "--db", str(db)])
        assert result.exit_code == 2, (args, result.output, result.exception)
        assert_one_line(result.stderr, loop, None, "is a loop of symbolic links")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(loop))
    result = CliRunner().invoke(cli, ["annotate", "--db", str(db), "--annotator", "ann"])
    assert result.exit_code == 2, result.output
    assert_one_line(result.stderr, loop, None, "is a loop of symbolic links")
    assert state(db) == before


DOORS = {  # how each command is given the file
    "import": lambda f: (["import", f], {}),
    "import-labels": lambda f: (["import-labels", f, "--format", "jsonl"], {}),
    "glossary import": lambda f: (["glossary", "import", f], {}),
    "keymap": lambda f: (["annotate", "--annotator", "ann"], {"ANNOTATOR_KEYMAP": f}),
}


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="POSIX FIFOs and devices")
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
@pytest.mark.parametrize("door", list(DOORS))
def test_a_fifo_or_a_device_is_refused_at_once_not_read_forever(tmp_path, door, special):
    db = tmp_path / "p.db"
    Store.open(db).close()
    if special == "fifo":
        target = tmp_path / "speeches.jsonl"
        os.mkfifo(target)
        kind = "is a named pipe (FIFO)"
    else:
        target, kind = Path(special), "is a character device"
    args, env = DOORS[door](str(target))
    before = state(db)
    result = run([*args, "--db", str(db)], env)
    assert result.returncode == 2, result.stderr
    assert_one_line(result.stderr, target, None, kind)
    assert state(db) == before


# ------------------------------------------------------------------ CSV and glossaries
def test_an_unterminated_csv_quote_is_refused_with_its_line(tmp_path, store):
    path = write(tmp_path / "speeches.csv", 'title,text\nA,A first speech.\nB,"A quote never closed.\nC,Another.\n')
    with pytest.raises(InputError, match=r"speeches\.csv:3: malformed CSV \(a quoted field opened in this record "
                                         r"is never closed"):
        import_paths(store, [path], language="en")
    assert store.counts()["speeches"] == 0


def test_a_file_that_is_not_a_glossary_is_refused(project, tmp_path):
    db, _ = project
    speeches = write(tmp_path / "speeches.csv", "title,speaker\na,b\n")
    before = state(db)
    result = CliRunner().invoke(cli, ["glossary", "import", str(speeches), "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert_one_line(result.stderr, speeches, 1, "the first row (title, speaker) does not name the glossary's "
                                                "columns")
    assert state(db) == before


def test_a_phrase_too_short_to_be_a_formulation_is_refused_unless_forced(project, tmp_path):
    db, _ = project
    terms = write(tmp_path / "terms.tsv", "phrase\trendering\na\tan article\n党\tthe Party\n网络强国\tcyberpower\n")
    before = state(db)
    result = CliRunner().invoke(cli, ["glossary", "import", str(terms), "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert (f"{terms}:2: the phrase 'a' is too short to be a formulation (it has 1 letter or digit; a formulation "
            "has at least 4): it would be found inside countless words; give --force") in result.stderr
    assert f"{terms}:3: the phrase '党' is too short to be a formulation (it has one Chinese" in result.stderr
    assert "2 problems in" in result.stderr and state(db) == before
    forced = CliRunner().invoke(cli, ["glossary", "import", str(terms), "--force", "--db", str(db)])
    assert forced.exit_code == 0, forced.output
    assert "3 new formulations" in forced.output


# ------------------------------------------------------------- a killed import
def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(stat[1]) == pid:
                found.add(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_import_leaves_no_workers_and_its_staging_files_go_on_the_next_open(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"Speech number {i} is here. It says {i * 7} things."}) + "\n"
                              for i in range(450)), encoding="utf-8")  # more than PARALLEL_THRESHOLD: workers
    folder = tmp_path / "project"
    folder.mkdir()
    db = folder / "p.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "annotator", "import", str(corpus), "--db", str(db)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            workers |= _children(proc.pid)
            time.sleep(0.05)
        assert workers and proc.poll() is None, "the import ended before its workers could be seen"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_running(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _running(w)], "worker processes outlived the killed import"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = sorted(p.name for p in folder.iterdir())
    assert left and all(name.startswith(f".p.db.{proc.pid}-") for name in left), left  # the killed import's
    Store.open(db).close()  # the next open (here, of a new empty project) removes them
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="tells a held file by /proc/locks")
def test_only_a_dead_writers_staging_files_are_removed(tmp_path):
    import sqlite3

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    folder = tmp_path / "project"
    folder.mkdir()
    stale = [folder / f".p.db.{dead_pid}-0123abcd.new{suffix}" for suffix in ("", "-wal", "-shm")]
    live = folder / f".p.db.{os.getpid()}-89abcdef.new"  # this process is writing it
    held = folder / f".p.db.{dead_pid}-4567cdef.new"  # a dead writer's, but a connection has it open
    old_unnamed = folder / ".p.db.deadbeef.new"  # an older version's, untouched for long
    young_unnamed = folder / ".p.db.feedface.new"
    other = folder / ".q.db.0123abcd.new"  # another database's
    for f in (*stale, live, old_unnamed, young_unnamed, other):
        f.write_bytes(b"")
    os.utime(old_unnamed, (time.time() - 3600, time.time() - 3600))
    connection = sqlite3.connect(held)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE t (x)")
    try:
        Store.open(folder / "p.db").close()
        left = {p.name for p in folder.iterdir() if p.name.startswith(".")}
    finally:
        connection.close()
    assert left == {live.name, held.name, f"{held.name}-wal", f"{held.name}-shm", young_unnamed.name, other.name}


def test_a_file_bigger_than_its_kind_can_be_is_refused_with_its_size(tmp_path, monkeypatch):
    from annotator.keymap import MAX_KEYMAP_BYTES

    db = tmp_path / "p.db"
    Store.open(db).close()
    keymap = tmp_path / "keymap.toml"
    keymap.write_bytes(b"[keys]\n" + b"#" * MAX_KEYMAP_BYTES + b"\n")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(keymap))
    result = CliRunner().invoke(cli, ["annotate", "--db", str(db), "--annotator", "ann"])
    assert result.exit_code == 2, result.output
    assert_one_line(result.stderr, keymap, None, f"is {MAX_KEYMAP_BYTES + 8:,} bytes; a keymap file may be at most "
                                                 f"{MAX_KEYMAP_BYTES:,} bytes")
