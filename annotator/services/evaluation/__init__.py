"""Evaluation in one place: which items each kind of model is trained, tuned and tested on
(``sides``), and how the models are scored on them (``ml.scoring`` does the scoring itself):
segment frames beside baselines, with the learning curve and the cross-lingual transfer
(``frames``), slogan spans on whole test speeches beside baselines (``spans``), frames for whole
speeches beside baselines (``speeches``) and the saved versions of each kind on one test side
(``versions``). Training, ``annotator report`` and the versions table all read them here.
"""
