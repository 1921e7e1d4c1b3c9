"""Progress: the callbacks long steps accept (defined once, here) and the one way the command
line shows them (:class:`Bars`).

On a terminal each step is a tqdm bar that, when the step ends, gives way to one clean final
line with the figure ("suggest:spans 1803/1803 seg in 4.1 s, 440 seg/s"); every other line
printed meanwhile (:func:`write_line`, which the CLI's ``echo`` goes through) clears the bars
first, so that no output shares a line with a bar. When stdout is not a terminal (a pipe, a
log file) there are no bars and no control characters at all: a plain line now and then
("suggest:spans 512/1803 seg (28 %)"), at most every ``PLAIN_EVERY_S`` seconds and only after
another tenth of the step, and the same final line.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from tqdm import tqdm

# The three kinds of news a long step gives, for whoever shows them (bars, a log, the UI):
Progress = Callable[[str, int, int], None]  # (stage, done, total): "segment", 40, 85
Say = Callable[[str], None]  # one line of what is happening: "dequantising 12 layers"
StepProgress = Callable[[int, int, dict[str, Any]], None]  # (step, total, figures): a training loop's

STAGE_NAMES = {"segment": "segmenting", "store": "saving", "suggest": "suggesting", "train": "training",
               "translate": "translating", "convert": "converting"}
PLAIN_EVERY_S = 5.0  # without a terminal: at most one line per this many seconds per step
PLAIN_STEP = 0.1  # … and only after another tenth of the step

_lock = threading.RLock()
_open: list["Bars"] = []  # the helpers whose bars are on screen now


def stage_name(stage: str) -> str:
    return STAGE_NAMES.get(stage, stage)


def write_line(text: str, err: bool = False, write: Callable[[str, bool], None] | None = None) -> None:
    """Print one line (``write(text, err)``, by default to stdout or stderr) so that it never
    shares a line with a progress bar: the bars on screen are cleared first and drawn again after."""
    def default(line: str, to_err: bool) -> None:
        stream = sys.stderr if to_err else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    emit = write or default
    with _lock:
        if any(b.terminal and b.bars for b in _open):
            with tqdm.external_write_mode(file=_open[-1].stream):
                emit(text, err)
        else:
            emit(text, err)


class _Step:
    """One stage's figures: when it started, how far it got, when it last said so."""

    def __init__(self, total: int, started: float) -> None:
        self.started = started
        self.done = 0
        self.total = total
        self.said_at = self.started
        self.said_done = 0


class Bars:
    """One progress display per stage: ``bars.update(stage, done, total)``. A stage's final
    line comes when it reaches its total, or when the block ends (``with Bars(unit="seg") as
    bars: …``) for one that stopped short. ``terminal`` (default: whether ``stream`` is one)
    chooses bars or plain lines."""

    def __init__(self, unit: str = "speech", stream: IO[str] | None = None, terminal: bool | None = None) -> None:
        self.unit = unit
        self.stream = stream or sys.stdout
        self.terminal = _is_terminal(self.stream) if terminal is None else terminal
        self.bars: dict[str, tqdm] = {}
        self.steps: dict[str, _Step] = {}
        self.mark = time.monotonic()  # when the helper began, or its last step ended

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def update(self, stage: str, done: int, total: int) -> None:
        with _lock:
            if self not in _open:
                _open.append(self)
            step = self.steps.get(stage)
            if step is None:
                # Steps report after their first chunk: a step began when the one before it ended
                step = self.steps[stage] = _Step(total, self.mark)
            step.done, step.total = done, total
            if total > 0 and done >= total:
                self.finish(stage)  # its final line now, not when the command ends
            elif self.terminal:
                self._draw(stage, step)
            else:
                self._maybe_say(stage, step)

    def finish(self, stage: str) -> None:
        """End a stage: its bar gives way to its final line."""
        with _lock:
            bar = self.bars.pop(stage, None)
            if bar is not None:
                bar.close()  # leave=False: the bar's line is cleared, the cursor at its start
            step = self.steps.pop(stage, None)
            self.mark = time.monotonic()
            if step is not None and (step.total > 0 or step.done > 0):
                self._say(self.final_line(stage, step))

    def _say(self, line: str) -> None:
        if self.terminal and self.bars:
            with tqdm.external_write_mode(file=self.stream):
                self.write(line)
        else:
            self.write(line)

    def _draw(self, stage: str, step: _Step) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            bar = tqdm(total=step.total, desc=stage_name(stage), unit=self.unit, leave=False, file=self.stream,
                       dynamic_ncols=True, mininterval=0.2)
            self.bars[stage] = bar
        bar.total = step.total
        bar.update(step.done - bar.n)

    def _maybe_say(self, stage: str, step: _Step) -> None:
        now = time.monotonic()
        if step.total <= 0 or step.done >= step.total:
            return  # the final line says it
        if now - step.said_at >= PLAIN_EVERY_S and (step.done - step.said_done) >= PLAIN_STEP * step.total:
            step.said_at, step.said_done = now, step.done
            self._say(f"{stage_name(stage)} {step.done}/{step.total} {self.unit} ({100 * step.done // step.total} %)")

    def final_line(self, stage: str, step: _Step) -> str:
        seconds = time.monotonic() - step.started
        line = f"{stage_name(stage)} {step.done}/{step.total} {self.unit} in {seconds:.1f} s"
        if seconds >= 0.05 and step.done:
            rate = step.done / seconds
            line += f", {rate:,.0f} {self.unit}/s" if rate >= 10 else f", {rate:.2g} {self.unit}/s"
        return line

    def close(self) -> None:
        with _lock:
            for stage in list(self.steps):
                self.finish(stage)
            if self in _open:
                _open.remove(self)

    def __enter__(self) -> "Bars":
        with _lock:
            if self not in _open:
                _open.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
