"""Label schemes: TOML data files, validated on load.

A scheme has segment-level labels (``[[frames]]``, multi-label) and span labels (``[[spans]]``).
Each label has an ``id`` (the identifier stored and exported: the data's), a display ``name``
(what a person reads, wherever a label is shown: :meth:`Scheme.display_name`), a one-line
``definition`` and a ``key`` (the key that toggles it in the UI). The tool ships the schemes in
``annotator/schemes/data``; a project adds its own with ``--scheme-file`` or by putting a file
in ``<project>/schemes/``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from annotator.errors import AnnotatorError, shown
from annotator.inputs import decode_utf8, parse_toml, read_input_bytes
from annotator.keymap import reserved_characters
from annotator.paths import project_root

BUILTIN_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_SCHEME = "framing"
DEFAULT_SPAN_LABEL = "Slogan"  # a span's label where none is given (the bundled schemes' one span label)
MAX_SCHEME_BYTES = 1 << 20  # a scheme is a few hundred lines


@dataclass(frozen=True)
class Label:
    id: str
    name: str
    definition: str
    key: str


@dataclass(frozen=True)
class Scheme:
    name: str
    title: str
    description: str
    frames: tuple[Label, ...]
    spans: tuple[Label, ...]
    source: str
    hash: str
    toml_text: str

    @property
    def frame_ids(self) -> list[str]:
        return [lab.id for lab in self.frames]

    @property
    def span_ids(self) -> list[str]:
        return [lab.id for lab in self.spans]

    @property
    def labels_key(self) -> str:
        """What a model learns of the scheme: its frame and span label ids, in order (hashed).
        Training recipes name this, not the file's hash, so that a new display name or a
        reworded definition does not make every version trained before count as another's."""
        return hashlib.sha256(json.dumps([self.frame_ids, self.span_ids]).encode()).hexdigest()[:16]

    def frame(self, label_id: str) -> Label | None:
        return next((lab for lab in self.frames if lab.id == label_id), None)

    def display_name(self, label_id: str) -> str:
        """The name a person reads for a label (a frame or a span label): the scheme's ``name``
        for it, the same on the screens, in the report, its plots, the command line's output and
        the export's metadata; the id itself for a label the scheme does not have."""
        found = next((lab for lab in (*self.frames, *self.spans) if lab.id == label_id), None)
        return found.name if found is not None else label_id

    @property
    def display_names(self) -> dict[str, str]:
        """Every label's id → :meth:`display_name` (frames, then span labels)."""
        return {lab.id: self.display_name(lab.id) for lab in (*self.frames, *self.spans)}


def _labels(data: object, section: str, path: Path) -> tuple[Label, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise AnnotatorError(f"{path}: [{section}] must be an array of tables ([[{section}]])")
    out: list[Label] = []
    seen_ids: set[str] = set()
    for i, item in enumerate(data, start=1):
        where = f"{path}: {section}[{i}]"
        if not isinstance(item, dict):
            raise AnnotatorError(f"{where}: must be a table")
        for key in ("id", "definition"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise AnnotatorError(f"{where}: missing or empty '{key}'")
        label_id = item["id"].strip()
        if not label_id.replace("_", "").replace("-", "").isalnum():
            raise AnnotatorError(f"{where}.id: {label_id!r} must be letters, digits, '_' or '-'")
        if label_id in seen_ids:
            raise AnnotatorError(f"{where}.id: duplicate label {label_id!r}")
        seen_ids.add(label_id)
        key = str(item.get("key", "")).strip()
        if len(key) > 1:
            raise AnnotatorError(f"{where}.key: {key!r} must be a single character")
        unknown = set(item) - {"id", "name", "definition", "key"}
        if unknown:
            raise AnnotatorError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        out.append(Label(label_id, str(item.get("name") or label_id), item["definition"].strip(), key))
    return tuple(out)


def load_scheme_file(path: str | Path) -> Scheme:
    path = Path(path)
    raw = read_input_bytes(path, "scheme file", MAX_SCHEME_BYTES)
    text = decode_utf8(raw, path)
    data = parse_toml(text, path)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AnnotatorError(f"{path}: missing 'name'")
    frames = _labels(data.get("frames"), "frames", path)
    spans = _labels(data.get("spans"), "spans", path)
    if not frames and not spans:
        raise AnnotatorError(f"{path}: a scheme needs at least one [[frames]] or [[spans]] label")
    for section in (frames, spans):  # one name per label, and one label per name
        named: dict[str, str] = {}
        for lab in section:
            if lab.name in named:
                raise AnnotatorError(f"{shown(path)}: name {lab.name!r} of label {lab.id!r} is the name of label "
                                     f"{named[lab.name]!r} too")
            named[lab.name] = lab.id
    keys = [lab.key for lab in (*frames, *spans) if lab.key]
    reserved = reserved_characters()  # from the annotation screen's own key table, every mode
    for lab in (*frames, *spans):
        if lab.key and keys.count(lab.key) > 1:
            raise AnnotatorError(f"{shown(path)}: key {lab.key!r} of label {lab.id!r} is used by another label")
        if lab.key in reserved:
            raise AnnotatorError(f"{shown(path)}: key {lab.key!r} of label {lab.id!r} is taken by the "
                                 f"annotation screen's {reserved[lab.key]!r} action; choose another key")
        if lab.key and not lab.key.isprintable():
            raise AnnotatorError(f"{shown(path)}: key {lab.key!r} of label {lab.id!r} is not a key one can type")
    return Scheme(
        name=name.strip(), title=str(data.get("title") or name), description=str(data.get("description") or ""),
        frames=frames, spans=spans, source=str(path), hash=hashlib.sha256(raw).hexdigest()[:16], toml_text=text,
    )


def scheme_dirs() -> list[Path]:
    return [BUILTIN_DIR, project_root() / "schemes"]


def available_schemes() -> dict[str, Scheme]:
    """Every scheme the tool ships plus the project's own (``<project>/schemes/*.toml``)."""
    found: dict[str, Scheme] = {}
    for folder in scheme_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                scheme = load_scheme_file(path)
                found[scheme.name] = scheme
    return found


def get_scheme(name_or_path: str | None = None) -> Scheme:
    """A scheme by name, or from a TOML file path."""
    name_or_path = name_or_path or DEFAULT_SCHEME
    if name_or_path.endswith(".toml") or Path(name_or_path).is_file():
        return load_scheme_file(name_or_path)
    schemes = available_schemes()
    if name_or_path not in schemes:
        raise AnnotatorError(
            f"no label scheme named {name_or_path!r}; available: {', '.join(sorted(schemes))} "
            "(or give the path of a .toml file)")
    return schemes[name_or_path]
