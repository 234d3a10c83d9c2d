"""Screening a list before a send: who may be contacted, decided a chunk at a time.

:mod:`~prefcenter.screening.screen` decides (with the store's rule index),
:mod:`~prefcenter.screening.seen` finds repeats, :mod:`~prefcenter.screening.worker` hashes
in a second process, :mod:`~prefcenter.screening.refusals` turns verdicts into refusals for
callers, and :mod:`prefcenter.screening.csv` streams a list file through a screen.
"""
