"""Stage 7, rank: the judged candidates ordered for the report.

Order: the stability verdict first (stable, E_hull ≤ ``rank.e_hull_max``, by both
judges, then by one, then by neither; with one judge: stable, then not), then the
targets (met by both property judges, then by one, then by neither), then the first
judge's E_hull, the screening acquisition and the predictor's uncertainty.
"""

from __future__ import annotations

import math

from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.records import StageRecord

# Verdicts of the stability judges, best first.
VERDICTS = ("stable by both", "stable by one", "stable by neither")


def meets_targets(config: CampaignConfig, record: StageRecord) -> bool | None:
    """Whether ``record``'s predictions fall in every target range; None when it holds a
    prediction for none of them (that judge does not know these properties)."""
    names = [name for name in config.targets if record.values.get(name) is not None]
    if not names:
        return None
    return all(config.targets[name].contains(record.number(name)) for name in names)


def uncertainty(config: CampaignConfig, reaudit: StageRecord) -> float:
    """Sum of the predicted σ of the targeted properties after relaxation."""
    return sum(reaudit.number(f"{name}_std", 0.0) for name in config.targets)


def stability_verdict(config: CampaignConfig, candidate: Candidate) -> str | None:
    """ "stable by both / one / neither" when a second judge gave a verdict, else None."""
    second = candidate.stage("judge").number("e_above_hull_eV_atom")
    if not math.isfinite(second):
        return None
    stable = [_e_hull(candidate) <= config.rank.e_hull_max, second <= config.rank.e_hull_max]
    return VERDICTS[2 - sum(stable)]


def _e_hull(candidate: Candidate) -> float:
    value = candidate.stage("relax").number("e_above_hull_eV_atom")
    return value if math.isfinite(value) else math.inf  # unconverged or failed: last


def rank_candidates(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """A 1-based ``position`` for every judged candidate, with the verdicts it rests on."""

    def verdicts(candidate: Candidate) -> dict:
        screening = meets_targets(config, candidate.stage("reaudit"))
        independent = meets_targets(config, candidate.stage("judge"))
        return {
            "stable": bool(_e_hull(candidate) <= config.rank.e_hull_max),
            "stability_verdict": stability_verdict(config, candidate),
            "meets_targets": bool(screening) if config.targets else True,
            "meets_targets_independent": independent,
        }

    def order(candidate: Candidate) -> tuple:
        said = verdicts(candidate)
        stability = (
            VERDICTS.index(said["stability_verdict"])
            if said["stability_verdict"]
            else (0 if said["stable"] else 2)
        )
        targets = [said["meets_targets"]] + (
            [said["meets_targets_independent"]]
            if said["meets_targets_independent"] is not None
            else []
        )
        return (
            stability,
            -sum(targets) / len(targets),
            _e_hull(candidate),
            -candidate.stage("screen").number("acquisition", 0.0),
            uncertainty(config, candidate.stage("reaudit")),
            candidate.cid,
        )

    return [
        Outcome(candidate.cid, "passed", values={"position": position, **verdicts(candidate)})
        for position, candidate in enumerate(sorted(candidates, key=order), start=1)
    ]
