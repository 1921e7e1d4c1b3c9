"""Files from outside, read safely: every reader of a user's file (speeches, label files, seed
labels, glossaries, keymaps, schemes) goes through here.

* :func:`read_input`: a regular file only — a FIFO, a device (``/dev/zero``), a socket or a
  folder is refused before anything is read, so nothing hangs or reads without end; symbolic
  links are followed, and a loop of them is named. At most ``limit`` bytes are read; a bigger
  file is refused with its size. The text is UTF-8, a byte-order mark dropped; a byte that is
  not UTF-8 is named with its line.
* :func:`parse_json`, :func:`json_lines`, :func:`json_records`, :func:`parse_yaml`,
  :func:`parse_toml`: the parsers, with every error ``file:line: problem``. Nesting deeper than
  :data:`MAX_NESTING` levels (which would exhaust Python's stack: ``RecursionError``) is refused
  with the line where it gets too deep, and so is a lone surrogate — a ``\\ud800`` escape in
  JSON or YAML makes one; it is not a character, and SQLite cannot store it — naming the field.

Every problem is an :class:`~annotator.errors.InputError`: one line, exit status 2.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotator.errors import InputError, shown

MAX_INPUT_BYTES = 1 << 30  # 1 GiB: a speech file, a label file
MAX_NESTING = 100  # levels of lists and objects; real files have a handful
_CHUNK = 16 << 20
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


# ------------------------------------------------------------------------------- reading
def size_text(n: int) -> str:
    """``1.5 GB``, ``12 MB``, ``900 bytes``."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def _refusal(path: Path, mode: int, what: str) -> InputError | None:
    if stat.S_ISDIR(mode):
        return InputError(path, f"is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        return InputError(path, f"is {kind}, not a {what}: nothing was read from it (save what it gives "
                                f"to a file, and give that)")
    return None


def _os_problem(path: Path, exc: OSError, what: str) -> InputError:
    if exc.errno == errno.ENOENT:
        return InputError(path, f"no such {what}")
    if exc.errno == errno.ELOOP:
        return InputError(path, "is a loop of symbolic links (a link that leads back to itself); "
                                "point it at a file")
    if exc.errno == errno.EISDIR:
        return InputError(path, f"is a folder, not a {what}")
    return InputError(path, f"cannot read ({exc.strerror or exc})")


def file_problem(path: str | Path, what: str = "file") -> InputError | None:
    """Why ``path`` cannot be read as a ``what`` (a missing file, a link loop, a FIFO or a
    device), as the error to raise; ``None`` for a regular file (``stat`` only, nothing opened)."""
    path = Path(path)
    try:
        st = os.stat(path)  # follows symbolic links: ELOOP for a loop of them
    except OSError as exc:
        return _os_problem(path, exc, what)
    return _refusal(path, st.st_mode, what)


def read_input_bytes(path: str | Path, what: str = "file", limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see the module's docstring)."""
    path = Path(path)
    problem = file_problem(path, what)
    if problem is not None:
        raise problem
    try:
        # O_NONBLOCK: were the file swapped for a FIFO since the stat, opening it cannot hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_problem(path, exc, what) from None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        mode = os.fstat(fd).st_mode
        refused = _refusal(path, mode, what)
        if refused is not None:
            raise refused
        chunks, total = [], 0
        try:
            while total <= limit:
                chunk = fh.read(min(_CHUNK, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except OSError as exc:
            raise _os_problem(path, exc, what) from None
        size = os.fstat(fd).st_size
    if total > limit:
        big, most = size_text(size), size_text(limit)
        if size <= limit:  # a file that grew while it was read
            big = f"more than {most}"
        elif big == most:
            big, most = f"{size:,} bytes", f"{limit:,} bytes"
        raise InputError(path, f"is {big}; a {what} may be at most {most} "
                               "(split it into smaller files, or check that this is the right file)")
    return b"".join(chunks)


def decode_utf8(data: bytes, path: str | Path) -> str:
    """``data`` as UTF-8 text, a byte-order mark dropped; a byte that is not UTF-8 is named with
    its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(path, f"invalid UTF-8 at byte {exc.start} (save the file as UTF-8)", line) from None


def read_input(path: str | Path, what: str = "file", limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes, a byte-order mark dropped
    (line endings as they are)."""
    return decode_utf8(read_input_bytes(path, what, limit), path)


# ------------------------------------------------------------------------------- values
def _field(parent: str, key: object) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    name = shown(key)
    return f"{parent}.{name}" if parent else name


def surrogate_problem(value: str, field: str) -> str | None:
    """What is wrong with ``value`` (the ``field`` of a record) if it holds a lone surrogate."""
    found = LONE_SURROGATE.search(value)
    if found is None:
        return None
    return (f"a lone surrogate (U+{ord(found.group()):04X}), which is not a character (a broken \\u escape?), "
            f"at character {found.start() + 1} of '{field}'; remove it and import again")


def check_value(value: Any, path: str | Path, line: int | None, text: str | None = None, start: int = 0) -> None:
    """Refuse a parsed value nested more than :data:`MAX_NESTING` levels deep, or holding a lone
    surrogate in a string or a key (naming the field). ``text`` (from ``start``): the source the
    value was parsed from, to find the line where the nesting gets too deep."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problem = surrogate_problem(item, where or "value")
            if problem is not None:
                raise InputError(path, problem, line)
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth >= MAX_NESTING:
            deep = nesting_line(text, start, toml=False) if text is not None else None
            raise InputError(path, nesting_problem(), deep or line)
        if isinstance(item, dict):
            for key, child in item.items():
                bad = LONE_SURROGATE.search(key) if isinstance(key, str) else None
                if bad is not None:
                    raise InputError(path, f"a lone surrogate (U+{ord(bad.group()):04X}) in a field name in "
                                           f"'{where or 'the record'}', which is not a character (a broken \\u "
                                           "escape?); remove it and import again", line)
                stack.append((child, _field(where, key), depth + 1))
        else:
            stack.extend((child, _field(where, i), depth + 1) for i, child in enumerate(item))


def nesting_problem() -> str:
    return f"lists or objects nested more than {MAX_NESTING} levels deep (a broken or hostile file?)"


_NEST_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[\[\]{}]')
_NEST_TOKENS_TOML = re.compile(r'"(?:[^"\\\n]|\\.)*"?|\'[^\'\n]*\'?|#[^\n]*|[\[\]{}]')


def nesting_line(text: str | None, start: int = 0, toml: bool = False) -> int | None:
    """The line of ``text`` (from ``start``) where brackets get nested more than
    :data:`MAX_NESTING` levels deep, strings (and TOML comments) aside; ``None`` if nowhere."""
    if text is None:
        return None
    depth = 0
    for token in (_NEST_TOKENS_TOML if toml else _NEST_TOKENS).finditer(text, start):
        kind = token.group()
        if kind in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return text.count("\n", 0, token.start()) + 1
        elif kind in "]}":
            depth = max(depth - 1, 0)
    return None


# --------------------------------------------------------------------------------- JSON
def json_problem(exc: json.JSONDecodeError) -> str:
    """``exc``'s message with its column: "Unterminated string starting at column 9" (some of
    json's messages end in "at" already, "Expecting value" does not)."""
    return f"{exc.msg.removesuffix(' at')} at column {exc.colno}"


def parse_json(text: str, path: str | Path, line: int | None = None) -> Any:
    """One JSON value: ``text`` is line ``line`` of a JSON-lines file (the errors name it), or a
    whole file (``line`` None: they name the line the error is on)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({json_problem(exc)})", line or exc.lineno) from None
    except RecursionError:
        raise InputError(path, nesting_problem(), line or nesting_line(text)) from None
    check_value(value, path, line, None if line else text)
    return value


def json_lines(text: str, path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSON-lines file."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, parse_json(line, path, number)


def json_records(text: str, path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each element of a JSON array (the line it starts on), or for
    each line of a JSON-lines file."""
    at = _JSON_SPACE.match(text, 0).end()
    if not text.startswith("[", at):
        yield from json_lines(text, path)
        return
    decoder = json.JSONDecoder()
    at += 1  # after the "["
    line, counted = 1, 0
    first = True
    while True:
        at = _JSON_SPACE.match(text, at).end()
        if at < len(text) and text[at] == "]" and first:
            at += 1
            break
        line += text.count("\n", counted, at)
        counted = at
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON ({json_problem(exc)})", exc.lineno) from None
        except RecursionError:
            raise InputError(path, nesting_problem(), nesting_line(text, at) or line) from None
        check_value(value, path, line, text, at)
        yield line, value
        first = False
        at = _JSON_SPACE.match(text, end).end()
        if at < len(text) and text[at] == ",":
            at += 1
            continue
        if at < len(text) and text[at] == "]":
            at += 1
            break
        where = text.count("\n", 0, at) + 1
        raise InputError(path, "invalid JSON (expected ',' or ']' after an element of the array)", where)
    rest = _JSON_SPACE.match(text, at).end()
    if rest < len(text):
        raise InputError(path, "invalid JSON (more after the array's closing ']')", text.count("\n", 0, rest) + 1)


# --------------------------------------------------------------------------------- YAML
def parse_yaml(text: str, path: str | Path, first_line: int = 1, what: str = "YAML") -> Any:
    """A YAML document (``what``: front matter) that starts on line ``first_line`` of the file,
    read with the safe loader; its nesting is checked on the parser's events before anything is
    built."""
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_NESTING:
                    raise InputError(path, nesting_problem(), first_line + event.start_mark.line)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(path, f"invalid {what} ({getattr(exc, 'problem', None) or exc})",
                         first_line + mark.line if mark else first_line) from None
    except RecursionError:
        raise InputError(path, nesting_problem(), first_line) from None


# --------------------------------------------------------------------------------- TOML
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def parse_toml(text: str, path: str | Path) -> dict[str, Any]:
    """A TOML document; errors name their line."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        problem = message[:at.start()] if at else message
        column = f" at column {at.group(2)}" if at else ""
        raise InputError(path, f"not valid TOML ({problem}{column})", int(at.group(1)) if at else None) from None
    except RecursionError:
        raise InputError(path, nesting_problem(), nesting_line(text, toml=True)) from None
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:  # nesting (strings in a TOML file are read as they are: no \u escape makes a surrogate)
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_NESTING:
                raise InputError(path, nesting_problem(), nesting_line(text, toml=True))
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return value
