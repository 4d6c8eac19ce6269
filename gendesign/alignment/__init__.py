"""Stability alignment: a generative model fine-tuned toward its own stable samples.

:mod:`~gendesign.alignment.config` says what to align and how,
:mod:`~gendesign.alignment.reward` turns samples into energies above the hull,
:mod:`~gendesign.alignment.loop` runs the resumable iterations.
"""
