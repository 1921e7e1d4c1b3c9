"""Background retraining: after every N decisions the quick frames and slogan models retrain in a
worker, the new versions become active, and the suggestions in view and ahead are recomputed
with them."""

from __future__ import annotations

import re

from _ml_fixtures import tiny_encoder_dir  # noqa: F401
from test_ui_team import SIZE, labelled_db, record_notifications, screen_of

from annotator.store import Store
from annotator.ui.app import make_app


async def settle(app, pilot) -> None:
    for _ in range(3):  # training, then the suggestions it starts
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_every_n_decisions_the_frames_models_retrain_and_suggestions_ahead_refresh(tmp_path, tiny_encoder_dir):
    path = tmp_path / "b.db"
    labelled_db(path).close()
    app = make_app(path, "ann", "framing", suggest=True, train_base=str(tiny_encoder_dir), retrain_every=3)
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        store = Store.open(path)
        await pilot.press("1", "1")  # two decisions (Economic on, off): not yet
        await settle(app, pilot)
        assert "frames" not in store.active_models() and not screen_of(app).training
        await pilot.press("3")  # the third
        await settle(app, pilot)
        first = store.active_models().get("frames")
        assert first and (first.endswith("-knn") or first.endswith("-linear")), store.active_models()
        note = next(m for m in shown if m.startswith("frames retrained"))
        method = first.rsplit("-", 1)[1]
        assert re.fullmatch(rf"frames retrained \({method}\): test micro-F1 [\d.]+; spans retrained \(linear\): "
                            r"test partial-F1 [\d.]+; \d+ suggestions in view and ahead refreshed", note), note
        # one line: nothing to compare with the first time
        spans = store.active_models().get("spans")
        assert spans and spans.endswith("-linear"), "the quick slogan tagger retrains too"
        screen = screen_of(app)
        ahead = screen.visible_ids()
        assert len(ahead) > 1 and all(store.run_info(i, first) and store.has_run(i, spans) for i in ahead), \
            "suggested with the new versions"
        # three more decisions: new labels, so a new version, and the suggestions follow it
        await pilot.press("3", "3", "1")
        await settle(app, pilot)
        second = store.active_models()["frames"]
        assert second != first
        assert store.run_info(screen_of(app).current_id, second)
        notes = [m for m in shown if m.startswith("frames retrained")]
        assert len(notes) == 2 and re.match(r"frames retrained \(\w+\): test micro-F1 [\d.]+, was [\d.]+", notes[1])
        store.close()


async def test_retrain_every_zero_never_retrains_by_itself(tmp_path, tiny_encoder_dir):
    path = tmp_path / "z.db"
    labelled_db(path).close()
    app = make_app(path, "ann", "framing", suggest=False, train_base=str(tiny_encoder_dir), retrain_every=0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*["1"] * 6)
        await settle(app, pilot)
        assert not screen_of(app).training
    store = Store.open(path)
    assert "frames" not in store.active_models()
    store.close()


async def test_with_no_active_model_the_screen_sets_up_the_default_models_in_a_worker(tmp_path, tiny_encoder_dir):
    """`annotator annotate` on a project without models: the default models are set up in the
    background, with a note saying so, while the annotator goes on; then the segments in view
    get their suggestions."""
    path = tmp_path / "first.db"
    labelled_db(path).close()
    app = make_app(path, "ann", "framing", suggest=True, train_base=str(tiny_encoder_dir), setup=True)
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        assert screen.setting_up  # in a worker: the screen is already there and answers keys
        first = screen.current_id
        await pilot.press("j")
        assert screen.current_id != first
        plan = next(m for m in shown if "setting up the default models first" in m)
        assert plan.startswith("no active frames and spans model") and "on 2 CPU cores" in plan
        await settle(app, pilot)
        assert not screen.setting_up
        store = Store.open(path)
        active = store.active_models()
        assert {"frames", "spans"} <= set(active)
        assert any(m.startswith("default models ready (frames ") for m in shown), shown
        assert store.run_info(screen.current_id, active["frames"]) and store.has_run(screen.current_id, active["spans"])
        store.close()


async def test_without_setup_the_screen_leaves_the_models_alone(tmp_path, tiny_encoder_dir):
    path = tmp_path / "nosetup.db"
    labelled_db(path).close()
    app = make_app(path, "ann", "framing", suggest=True, train_base=str(tiny_encoder_dir))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert not screen_of(app).setting_up
    store = Store.open(path)
    assert store.active_models() == {}
    store.close()
