"""Stage 7, rank: the judged candidates ordered for the report, sceptically.

The verdict follows the least favourable judge (:mod:`relax.verdicts`): a candidate's
E_hull is the largest of its judges' calibrated values (the relaxation potential's and
the second potential's, each plus the offset the judge benchmark measured for it), and
it is stable when that is at most ``rank.e_hull_max``.

Order:

1. certainty first: a candidate whose judges disagree by more than 0.1 eV/atom, whose
   second judge gave no E_hull, or whose E_hull is only a lower bound (the reference
   lacks a compound that oxidation states say should compete) ranks after every
   candidate without such a doubt;
2. the stability verdict: stable by both judges, by one, by neither (one judge: stable,
   then not);
3. the targets: met by both property judges, then by one, then by neither;
4. the least favourable E_hull, the screening acquisition and the predictor's uncertainty.

Each candidate carries the sentences a chemist should read before trusting it
(``flags``): the disagreement, a missing verdict, an E_hull far below the hull with the
nearest competing phases, the reference's coverage.
"""

from __future__ import annotations

import math

from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.records import StageRecord
from relax.verdicts import DISAGREEMENT, calibrated, disagreement, flags

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


def judge_e_hulls(config: CampaignConfig, candidate: Candidate) -> dict[str, float]:
    """E_hull (eV/atom) by each stability judge that judged ``candidate``, by potential name
    (NaN: it gave none)."""
    relax = candidate.stage("relax")
    values = {relax.values.get("potential") or "relaxation": relax.number("e_above_hull_eV_atom")}
    judge = candidate.stage("judge")
    judged = judge.status is not None or "e_above_hull_eV_atom" in judge.values
    if config.judge.enabled and config.judge.potential and judged:
        name = judge.values.get("potential") or config.judge.potential
        values[name] = judge.number("e_above_hull_eV_atom")
    return values


def stability_verdict(config: CampaignConfig, candidate: Candidate) -> str | None:
    """ "stable by both / one / neither" (each judge's calibrated E_hull against
    ``rank.e_hull_max``) when a second judge gave a verdict, else None."""
    values = list(calibrated(judge_e_hulls(config, candidate)).values())
    if len(values) < 2 or not math.isfinite(values[1]):
        return None
    stable = [math.isfinite(v) and v <= config.rank.e_hull_max for v in values]
    return VERDICTS[2 - sum(stable)]


def least_favourable_e_hull(config: CampaignConfig, candidate: Candidate) -> float:
    """The largest calibrated E_hull of the judges (eV/atom); infinity when a judge gave none
    (failed, unconverged, an element it lacks): unknown is not stable."""
    values = list(calibrated(judge_e_hulls(config, candidate)).values())
    return max(values) if all(math.isfinite(v) for v in values) else math.inf


def rank_candidates(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """A 1-based ``position`` for every judged candidate, with the verdicts it rests on."""

    def verdicts(candidate: Candidate) -> dict:
        screening = meets_targets(config, candidate.stage("reaudit"))
        independent = meets_targets(config, candidate.stage("judge"))
        values = judge_e_hulls(config, candidate)
        worst = least_favourable_e_hull(config, candidate)
        relax = candidate.stage("relax")
        coverage = relax.values.get("hull_coverage") or ""
        spread = disagreement(list(values.values()))
        doubts = (
            (math.isfinite(spread) and spread > DISAGREEMENT)
            or any(not math.isfinite(v) for v in values.values())
            or bool(coverage)
        )
        return {
            "stable": bool(worst <= config.rank.e_hull_max),
            "stability_verdict": stability_verdict(config, candidate),
            "e_above_hull_eV_atom": worst if math.isfinite(worst) else math.nan,
            "judge_disagreement_eV_atom": spread,
            "uncertain": doubts,
            "flags": "; ".join(flags(values, relax.values.get("decomposition") or "", coverage)),
            "meets_targets": bool(screening) if config.targets else True,
            "meets_targets_independent": independent,
        }

    said_of = {candidate.cid: verdicts(candidate) for candidate in candidates}

    def order(candidate: Candidate) -> tuple:
        said = said_of[candidate.cid]
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
            said["uncertain"],
            stability,
            -sum(targets) / len(targets),
            least_favourable_e_hull(config, candidate),
            -candidate.stage("screen").number("acquisition", 0.0),
            uncertainty(config, candidate.stage("reaudit")),
            candidate.cid,
        )

    return [
        Outcome(candidate.cid, "passed", values={"position": position, **said_of[candidate.cid]})
        for position, candidate in enumerate(sorted(candidates, key=order), start=1)
    ]
