"""Team work: merging project databases, agreement between annotators, assigning work.

Adjudicators' decisions and the gold labels all of this counts are defined once, in
``annotator.store.gold``.
"""
