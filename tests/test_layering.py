"""The shape of the code, checked: imports go one way (import-linter's contracts in
pyproject.toml), the headless core runs without Textual (store, corpora, ml, export, team and
the services can run in a batch job or a notebook), and SQL lives in the store only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold():
    """pyproject.toml's import-linter contracts: the layers (cli → ui → services → ml | export |
    team | corpora → store → base, each importing only downwards, the four domain packages
    independent), no cycles between sibling modules or packages, Textual only under ui and
    click only under cli."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_the_headless_core_runs_without_textual_installed_in_the_process():
    code = ("import sys\nimport annotator.cli, annotator.services.session, annotator.services.training\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich.console')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "'textual" not in out.stdout


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
