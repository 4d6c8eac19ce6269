"""Candidate sources: where a campaign's candidates come from.

- ``model``: the generative model (:mod:`gendesign.model`).
- ``substitution``: data-mined ion exchange on known crystals
  (:mod:`gendesign.sources.substitution`).
- ``prototypes``: charge-balanced decoration of common frameworks of the known
  crystals (:mod:`gendesign.sources.prototypes`).

The two template sources are the baselines a generative model has to beat; each
drawn candidate is a :class:`~gendesign.sources.redecoration.Drawn` record.
"""

SOURCE_NAMES = ("model", "substitution", "prototypes")
