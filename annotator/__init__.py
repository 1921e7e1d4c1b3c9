"""annotator: annotate political speeches in many languages with machine suggestions."""

__version__ = "0.1.0"
