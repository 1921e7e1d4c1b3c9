"""Progress: the callbacks long steps accept (defined once, here) and the command line's bars
(tqdm) that they feed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm import tqdm

# The three kinds of news a long step gives, for whoever shows them (bars, a log, the UI):
Progress = Callable[[str, int, int], None]  # (stage, done, total): "segment", 40, 85
Say = Callable[[str], None]  # one line of what is happening: "dequantising 12 layers"
StepProgress = Callable[[int, int, dict[str, Any]], None]  # (step, total, figures): a training loop's

STAGE_NAMES = {"segment": "segmenting", "store": "saving", "suggest": "suggesting", "train": "training",
               "translate": "translating", "convert": "converting"}


class Bars:
    """One tqdm bar per stage: ``bars.update(stage, done, total)``."""

    def __init__(self, unit: str = "speech") -> None:
        self.unit = unit
        self.bars: dict[str, tqdm] = {}

    def update(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            bar = tqdm(total=total, desc=STAGE_NAMES.get(stage, stage), unit=self.unit, leave=False,
                       dynamic_ncols=True, mininterval=0.2)
            self.bars[stage] = bar
        bar.total = total
        bar.update(done - bar.n)

    def __enter__(self) -> "Bars":
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            bar.close()
