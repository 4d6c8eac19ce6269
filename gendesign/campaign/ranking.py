"""Stage 6, rank: the relaxed candidates ordered for the report.

Order: (meta)stable first (E_hull ≤ ``rank.e_hull_max``), then those whose
predicted properties after relaxation meet every target, then by E_hull, then by
the screening acquisition, then by the predictor's uncertainty.
"""

from __future__ import annotations

import math

from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.records import StageRecord


def meets_targets(config: CampaignConfig, reaudit: StageRecord) -> bool:
    """Whether the predictions on the relaxed structure fall in every target range."""
    return all(target.contains(reaudit.number(name)) for name, target in config.targets.items())


def uncertainty(config: CampaignConfig, reaudit: StageRecord) -> float:
    """Sum of the predicted σ of the targeted properties after relaxation."""
    return sum(reaudit.number(f"{name}_std", 0.0) for name in config.targets)


def rank_candidates(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """A 1-based ``position`` for every candidate that passed the re-audit."""

    def e_hull(candidate: Candidate) -> float:
        value = candidate.stage("relax").number("e_above_hull_eV_atom")
        return value if math.isfinite(value) else math.inf  # unconverged or failed: last

    def order(candidate: Candidate) -> tuple:
        reaudit = candidate.stage("reaudit")
        return (
            not e_hull(candidate) <= config.rank.e_hull_max,
            not meets_targets(config, reaudit),
            e_hull(candidate),
            -candidate.stage("screen").number("acquisition", 0.0),
            uncertainty(config, reaudit),
            candidate.cid,
        )

    return [
        Outcome(
            candidate.cid,
            "passed",
            values={
                "position": position,
                "stable": bool(e_hull(candidate) <= config.rank.e_hull_max),
                "meets_targets": meets_targets(config, candidate.stage("reaudit")),
            },
        )
        for position, candidate in enumerate(sorted(candidates, key=order), start=1)
    ]
