"""Segments that no source translates: ``suggest`` says so once and does not try them again
until a translation model (another version) appears; the screen says which source is missing."""

from __future__ import annotations

from _ml_fixtures import make_tiny_translation_model, tiny_marian_dir  # noqa: F401
from _ui_fixtures import build_project

from annotator.schemes import get_scheme
from annotator.services.models import register_and_activate
from annotator.services.session import Session
from annotator.services.suggest import suggest_all
from annotator.store import Store

BG = "Добър ден, уважаеми колеги. Откривам заседанието на Народното събрание."


def add_bulgarian(store: Store) -> list[int]:
    from annotator.corpora.segment import segment_text

    pieces = segment_text(BG, "bg")
    speech = store.add_speech({"content_hash": "b" * 64, "text": BG, "language": "bg"},
                              [{"start": p.start, "end": p.end, "text": p.text, "language": "bg"} for p in pieces])
    return [s.id for s in store.segments_of_speech(speech)]


def test_untranslatable_segments_wait_for_a_new_translation_model(store, tiny_marian_dir, tmp_path, monkeypatch):
    ids = add_bulgarian(store)
    tried: list[str] = []
    lookup = store.translation_memory
    monkeypatch.setattr(store, "translation_memory", lambda text, target="en": tried.append(text) or lookup(text, target))

    first = suggest_all(store)  # no corpus translation, no memory, no model: nothing can translate Bulgarian
    assert first.untranslatable == {"bg": 2} and len(tried) == 2
    assert "no translation source for bg 2 segment(s): a translation model through `annotator models use`" \
        in first.summary()
    assert store.best_translation(ids[0]) is None

    second = suggest_all(store)  # nothing new to try with: not tried again, nothing said
    assert second.untranslatable == {} and len(tried) == 2 and "no translation source" not in second.summary()

    register_and_activate(store, tiny_marian_dir)  # a new source
    third = suggest_all(store)
    assert len(tried) == 4 and third.translations.get("model") == 2
    assert {store.best_translation(i).provenance for i in ids} == {"model"}


def test_a_model_that_gives_nothing_is_not_asked_again_but_its_next_version_is(store, tmp_path, monkeypatch):
    from annotator.ml import translate

    ids = add_bulgarian(store)
    register_and_activate(store, make_tiny_translation_model(tmp_path / "mt-v1", "marian"))
    monkeypatch.setattr(translate.Translator, "translate", lambda self, texts, **kw: [""] * len(texts))
    assert suggest_all(store).untranslatable == {"bg": 2}
    assert suggest_all(store).untranslatable == {}  # the same model is not asked again
    register_and_activate(store, make_tiny_translation_model(tmp_path / "mt-v2", "marian", seed=1))
    assert suggest_all(store).untranslatable == {"bg": 2}  # its next version is
    assert store.untranslatable_with(ids[0]) == f"model:{store.active_models()['translation']}"


def test_the_screen_says_which_source_is_missing(tmp_path, tiny_marian_dir):
    store = build_project(tmp_path / "p.db")
    session = Session(store, "ann", get_scheme("framing"))
    greek = next(i for i in session.ids if store.segment(i).language == "el")
    english, chinese = session.ids[0], next(i for i in session.ids if store.segment(i).language == "zh")
    assert session.view(greek).translation_note == (
        "no translation source for el: a translation model through `annotator models use` (MarianMT, "
        "NLLB-200, M2M100) would give one")
    assert session.view(english).translation_note == ""  # the original is English
    assert session.view(chinese).translation is not None
    register_and_activate(store, tiny_marian_dir)  # a model that suggest has not run yet
    assert session.view(greek).translation_note == ""  # "no translation yet"
    store.close()


async def test_the_translation_pane_shows_the_missing_source(tmp_path):
    from annotator.ui.app import make_app

    path = tmp_path / "p.db"
    store = build_project(path)
    greek = next(s.id for s in store.iter_segments() if s.language == "el")
    store.close()
    app = make_app(path, "ann", "framing", suggest=False)
    async with app.run_test(size=(160, 48)):
        app.screen.show_segment(greek)
        shown = str(app.screen.query_one("#translation").render())
        assert shown.startswith("no translation source for el: a translation model through `annotator models use`")


def test_a_model_that_does_not_take_a_language_leaves_it_to_the_glosses_or_to_the_next_source(
        store, tiny_marian_dir, monkeypatch):
    from annotator.ml import translate

    bulgarian = add_bulgarian(store)
    zh = "我们要建设网络强国。"
    chinese = store.add_speech({"content_hash": "z" * 64, "text": zh, "language": "zh"},
                               [{"start": 0, "end": len(zh), "text": zh, "language": "zh"}])
    register_and_activate(store, tiny_marian_dir)
    monkeypatch.setattr(translate.Translator, "accepts", lambda self, lang, target, strict=True: lang == "fr")
    report = suggest_all(store)  # (as a Marian fr-en model would)
    assert report.untranslatable == {"bg": 2} and "model" not in report.translations
    assert store.best_translation(store.segments_of_speech(chinese)[0].id).provenance == "gloss"
    assert store.best_translation(bulgarian[0]) is None
