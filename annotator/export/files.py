"""Where exports may go, and writing them so that an interrupted export leaves nothing half-done.

Every export lands inside one export folder (``--base-dir``, default ``./exports``). ``--out`` is
taken relative to the current folder when that already lies inside the export folder (so
``--out exports/gold.jsonl`` means what it says), otherwise relative to the export folder; after
resolving ``..`` and symbolic links, a path outside the export folder is refused. That keeps a
mistyped or hostile ``--out ../../.bashrc`` from overwriting files elsewhere.

Files are written to a hidden temporary file in the destination folder and renamed over the
destination (atomic on POSIX and Windows); on any error the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from annotator.errors import AnnotatorError
from annotator.paths import share_like_new_files

DEFAULT_BASE_DIR = Path("exports")
TEMP_PREFIX = ".annotator-tmp-"


def _inside(path: Path, base: Path) -> bool:
    return path != base and base in path.parents


def resolve_out(out: str | Path | None, default_name: str, base_dir: str | Path = DEFAULT_BASE_DIR) -> Path:
    """The absolute destination for ``--out`` (or ``default_name``), refused if outside ``base_dir``."""
    base = Path(base_dir).expanduser().resolve()
    if base.exists() and not base.is_dir():
        raise AnnotatorError(f"--base-dir {base_dir}: is a file, not a folder")
    given = Path(out).expanduser() if out not in (None, "") else Path(default_name)
    if given.is_absolute():
        candidate = given.resolve()
    else:
        from_cwd = given.resolve()
        candidate = from_cwd if _inside(from_cwd, base) else (base / given).resolve()
    if candidate == base:
        raise AnnotatorError(f"--out {given}: names the export folder itself; give a file or folder name inside it")
    if not _inside(candidate, base):
        raise AnnotatorError(
            f"--out {given}: resolves to {candidate}, outside the export folder {base}; "
            "write inside it or choose the folder with --base-dir")
    return candidate


@contextlib.contextmanager
def atomic_file(dest: Path) -> Iterator[Path]:
    """A temporary path beside ``dest``; renamed to ``dest`` if the block succeeds, removed if not."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_dir():
        raise AnnotatorError(f"{dest}: is a folder; give a file name for this format")
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + dest.name + ".", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    share_like_new_files(tmp)  # mkstemp makes it private; an export is an ordinary file
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(dest: Path) -> Iterator[Path]:
    """A temporary folder beside ``dest``; swapped in for ``dest`` if the block succeeds.

    An existing ``dest`` is replaced only if it looks like an earlier export (it holds
    ``metadata.json``), so a typo cannot wipe an unrelated folder.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and not (dest.is_dir() and (dest / "metadata.json").is_file()):
        raise AnnotatorError(f"{dest}: exists and is not an earlier export; choose another --out")
    tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + dest.name + ".", dir=dest.parent))
    old: Path | None = None
    try:
        yield tmp
        share_like_new_files(tmp)
        if dest.exists():
            old = dest.with_name(f"{TEMP_PREFIX}{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except OSError:
            if old is not None:  # put the earlier export back rather than lose it
                os.replace(old, dest)
                old = None
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
