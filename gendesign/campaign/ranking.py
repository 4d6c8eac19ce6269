"""Stage 6, rank: the relaxed candidates ordered for the report.

Order: (meta)stable first (E_hull ≤ ``rank.e_hull_max``), then those whose
predicted properties after relaxation meet every target, then by E_hull, then by
the screening acquisition, then by the predictor's uncertainty.
"""

from __future__ import annotations

import math

from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig


def meets_targets(config: CampaignConfig, values: dict) -> bool:
    """Whether the predictions on the relaxed structure fall in every target range."""
    for name, target in config.targets.items():
        value = values.get(f"reaudit_{name}", math.nan)
        if not math.isfinite(value):
            return False
        if (target.min is not None and value < target.min) or (
            target.max is not None and value > target.max
        ):
            return False
    return True


def uncertainty(config: CampaignConfig, values: dict) -> float:
    """Sum of the ensemble spreads of the targeted properties after relaxation."""
    return sum(values.get(f"reaudit_{name}_std", 0.0) for name in config.targets)


def rank_candidates(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """A 1-based ``position`` for every candidate that passed the re-audit."""

    def order(candidate: Candidate) -> tuple:
        values = candidate.values
        e_hull = values.get("relax_e_above_hull_eV_atom", math.nan)
        e_hull = e_hull if math.isfinite(e_hull) else math.inf
        return (
            not e_hull <= config.rank.e_hull_max,
            not meets_targets(config, values),
            e_hull,
            -values.get("screen_acquisition", 0.0),
            uncertainty(config, values),
            candidate.cid,
        )

    outcomes = []
    for position, candidate in enumerate(sorted(candidates, key=order), start=1):
        values = candidate.values
        e_hull = values.get("relax_e_above_hull_eV_atom", math.nan)
        outcomes.append(
            Outcome(
                candidate.cid,
                "passed",
                values={
                    "position": position,
                    "stable": bool(e_hull <= config.rank.e_hull_max),
                    "meets_targets": meets_targets(config, values),
                },
            )
        )
    return outcomes
