"""Corpora: reading speech files, segmenting them into sentences, identifying languages, importing."""
