"""How a round after the first shares its candidates among the sources.

With ``generate.allocate: adaptive``, each source's share of round r is proportional to
what it yielded in rounds 0 .. r-1: its S.U.N. candidates in range (the report's "in
range" step) per worker second its candidates cost, all stages together. Half a find
and one second are added to each (so a source with no find yet is not written off
after one small round, and a source that cost nothing divides by something), and every
source keeps at least ``allocate_floor`` of the round, so none starves and each can
still prove itself. The pipeline stores each round's split the first time it is made,
so a resumed campaign makes the same candidates.
"""

from __future__ import annotations

import pandas as pd

from gendesign.campaign.config import CampaignConfig, split_counts
from gendesign.campaign.yields import funnel_masks, rounds_of, sources_of

PRIOR_FINDS = 0.5
PRIOR_SECONDS = 1.0


def yield_rates(table: pd.DataFrame, config: CampaignConfig, before_round: int) -> dict[str, float]:
    """Per configured source: (S.U.N. in range + 0.5) / (worker seconds + 1) over the rounds
    before ``before_round``."""
    earlier = rounds_of(table) < before_round
    in_range = funnel_masks(table, config)["in range"] & earlier
    sources = sources_of(table)
    seconds = table[[c for c in table.columns if c.endswith("_seconds")]].apply(
        pd.to_numeric, errors="coerce"
    ).fillna(0.0).sum(axis=1)  # fmt: skip
    rates = {}
    for name in config.generate.sources:
        mine = (sources == name) & earlier
        finds = float((in_range & mine).sum())
        rates[name] = (finds + PRIOR_FINDS) / (float(seconds[mine].sum()) + PRIOR_SECONDS)
    return rates


def adaptive_counts(table: pd.DataFrame, config: CampaignConfig, round_: int) -> dict[str, int]:
    """Candidates per source for round ``round_`` under ``allocate: adaptive``."""
    rates = yield_rates(table, config, round_)
    floor = config.generate.allocate_floor
    total = sum(rates.values())
    free = 1.0 - floor * len(rates)
    shares = {name: floor + free * rate / total for name, rate in rates.items()}
    return split_counts(config.generate.n, shares)
