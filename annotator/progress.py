"""Progress bars for the command line (tqdm), fed by the callbacks that services accept."""

from __future__ import annotations

from tqdm import tqdm

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
