"""Length-sorted batching shared by the predictors.

Sorting texts by length before batching means each batch pads to nearly the same length, which
on CPU roughly halves inference time for speeches whose segments range from a few words to a
long paragraph. Results come back in the caller's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

R = TypeVar("R")


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most ``batch_size``, shortest items first."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


def map_batched(texts: Sequence[str], batch_size: int, run: Callable[[list[str]], list[R]]) -> list[R]:
    """``run`` over length-sorted batches of ``texts``; one result per text, in input order."""
    results: list[R | None] = [None] * len(texts)
    for batch in length_sorted_batches([len(t) for t in texts], batch_size):
        outputs = run([texts[i] for i in batch])
        if len(outputs) != len(batch):
            raise RuntimeError(f"batch of {len(batch)} texts gave {len(outputs)} results")
        for i, out in zip(batch, outputs):
            results[i] = out
    return results  # type: ignore[return-value]
