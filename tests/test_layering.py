"""The headless core never imports Textual: store, corpora, ml, export, team and the services
can run in a batch job or a notebook, and the UI is the only place that draws."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "annotator.store", "annotator.corpora.importer", "annotator.corpora.seeds", "annotator.ml.frames",
    "annotator.ml.spans", "annotator.ml.train", "annotator.ml.knn", "annotator.ml.translate",
    "annotator.ml.gloss", "annotator.ml.encoder_setup", "annotator.services.suggest", "annotator.services.training",
    "annotator.services.session", "annotator.export.formats", "annotator.team.merge", "annotator.team.agreement",
    "annotator.services.report", "annotator.cli",
]


def test_core_modules_do_not_import_textual():
    code = "import sys\n" + "".join(f"import {m}\n" for m in CORE) + "print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_ui_never_talks_sql():
    from pathlib import Path

    import annotator

    ui = Path(annotator.__file__).parent / "ui"
    for path in [*ui.glob("*.py"), *(ui.parent / "services").glob("*.py")]:
        source = path.read_text(encoding="utf-8")
        for needle in ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", ".execute(", "sqlite3"):
            assert needle not in source, f"{path.name} contains {needle!r}"


def test_all_sql_lives_in_the_store():
    from pathlib import Path

    import annotator

    root = Path(annotator.__file__).parent
    for path in root.rglob("*.py"):
        if path.parent.name == "store":
            continue
        source = path.read_text(encoding="utf-8")
        assert ".execute(" not in source and "executemany" not in source, f"{path.relative_to(root)} runs SQL"
