"""Team work: merging project databases, agreement between annotators, assigning work.

An adjudicator's decision is stored as an ordinary annotation whose annotator name starts with
``adjudicator:`` (e.g. ``adjudicator:anna``), so it has history and undo like any other decision
but never counts as one more vote in agreement or majority figures.
"""

from __future__ import annotations

ADJUDICATOR_PREFIX = "adjudicator:"


def is_adjudicator(name: str) -> bool:
    """Whether an annotator name stands for an adjudicator's decisions."""
    return name.startswith(ADJUDICATOR_PREFIX)


def adjudicator_name(user: str) -> str:
    """The annotator name under which ``user``'s adjudications are stored."""
    return user if is_adjudicator(user) else ADJUDICATOR_PREFIX + user


__all__ = ["ADJUDICATOR_PREFIX", "adjudicator_name", "is_adjudicator"]
