"""How fast the annotation UI is on a big corpus.

Builds a project of N segments with the Store API (default 100,000: 1,000 speeches × 100
segments), then measures, with ``App.run_test``:

* the first screen: from ``make_app`` until the main screen is mounted and painted;
* moving on: pressing ``j`` (next segment) 50 times, per key press;
* deciding: pressing ``a`` (accept, one committed transaction) 50 times, per key press.

The same figures for a 1,000-segment project are the baseline: on a virtualised list they
should hardly differ. Run: ``.venv/bin/python bench/bench_ui.py [--segments N] [--keep PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from annotator.store import Store  # noqa: E402
from annotator.ui.app import AnnotateScreen, make_app  # noqa: E402

WORDS = ("economy security families future growth people nation rights law health reform "
         "schools jobs peace trade energy climate taxes freedom justice").split()
ZH = "我们要建设网络强国推动高质量发展坚持以人民为中心的发展思想"


def build(path: Path, segments: int, per_speech: int = 100) -> float:
    """A project with ``segments`` segments; returns the seconds it took."""
    rng = random.Random(7)
    t0 = time.perf_counter()
    store = Store.open(path)
    with store.write():
        for sp in range(max(segments // per_speech, 1)):
            lang = "zh" if sp % 5 == 0 else "en"
            segs, start = [], 0
            for _ in range(per_speech):
                if lang == "zh":
                    text = "".join(rng.choice(ZH) for _ in range(rng.randint(12, 40))) + "。"
                else:
                    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))).capitalize() + "."
                segs.append({"start": start, "end": start + len(text), "text": text, "language": lang})
                start += len(text) + 1
            body = "\n".join(s["text"] for s in segs)
            store.add_speech({"content_hash": hashlib.sha256(f"{sp}:{body}".encode()).hexdigest(),
                              "title": f"Speech {sp}", "language": lang, "text": body}, segs)
    store.close()
    return time.perf_counter() - t0


async def measure(path: Path, presses: int = 50) -> dict[str, float]:
    t0 = time.perf_counter()
    app = make_app(path, "bench", "framing", suggest=False)
    t_session = time.perf_counter() - t0
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AnnotateScreen) and app.screen.current_id is not None
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(presses):
            await pilot.press("j")
        await pilot.pause()
        nxt = (time.perf_counter() - t1) / presses
        t2 = time.perf_counter()
        for _ in range(presses):
            await pilot.press("a")
        await pilot.pause()
        accept = (time.perf_counter() - t2) / presses
        work = direct_next(app.screen, presses)
    return {"session_s": t_session, "first_screen_s": first, "next_ms": nxt * 1000, "accept_ms": accept * 1000,
            "next_work_ms": work * 1000}


def direct_next(screen: AnnotateScreen, presses: int) -> float:
    """Seconds per 'next' without the test harness: the action (database reads, widget
    updates) plus rendering what changed (the segment text and every visible list row)."""
    from annotator.ui.widgets import SegmentList, SegmentText

    seg_list, text = screen.query_one(SegmentList), screen.query_one("#original", SegmentText)
    t0 = time.perf_counter()
    for _ in range(presses):
        screen.action_next()
        text.render()
        for y in range(seg_list.size.height):
            seg_list.render_line(y)
    return (time.perf_counter() - t0) / presses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="build (or reuse) the big project here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.db"
        big = args.keep or Path(tmp) / "big.db"
        build(small, 1_000)
        if not big.exists():
            print(f"building {args.segments:,} segments … {build(big, args.segments):.1f} s")
        results = {"1k (baseline)": asyncio.run(measure(small)), f"{args.segments // 1000}k": asyncio.run(measure(big))}
    print("next/accept (pilot): one key press through run_test, idle waits of the harness included;")
    print("next (work): the action plus rendering the changed widgets, without the harness.")
    print(f"{'project':>14} {'session':>9} {'first screen':>13} {'next (pilot)':>13} {'accept (pilot)':>15}"
          f" {'next (work)':>12}")
    for name, r in results.items():
        print(f"{name:>14} {r['session_s']:>8.3f}s {r['first_screen_s']:>12.3f}s "
              f"{r['next_ms']:>11.1f}ms {r['accept_ms']:>13.1f}ms {r['next_work_ms']:>10.2f}ms")
    big_first = list(results.values())[1]["first_screen_s"]
    print(f"first screen under 1 s on the big project: {'yes' if big_first < 1 else 'NO'}")


if __name__ == "__main__":
    main()
