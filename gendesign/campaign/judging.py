"""Stage 6, judge: the relaxed candidates re-judged by models that took no part so far.

- Stability: a second potential (``judge.potential``, another architecture and
  training set than the relaxation potential) relaxes each candidate again, from the
  first potential's relaxed structure, and puts it on the reference hull through its own
  fitted element references. The ranking then says whether a candidate is stable by
  both judges, by one or by neither, and follows the least favourable one.
- Properties: the composition-only judge (:mod:`predictors.composition`, trained on
  a split the screening ensemble never saw) predicts the targets it knows, so "in
  range" is not graded only by the model that screened and steered.

A judge that cannot give a verdict (a failed relaxation, an element it lacks) leaves
that value empty and says why; the candidate goes on to the ranking either way.
"""

from __future__ import annotations

import math

from gendesign.campaign import resources
from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig
from gendesign.data.crystal_set import CrystalSet
from relax.runner import relax_crystals


def judge_batch(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """Second-judge E_hull and independent property predictions of ``candidates``."""
    settings = config.judge
    values: dict[str, dict] = {c.cid: {} for c in candidates}
    reasons: dict[str, list[str]] = {c.cid: [] for c in candidates}
    if settings.enabled and settings.potential:
        for cid, judged, reason in _second_potential(config, candidates):
            values[cid].update(judged)
            if reason:
                reasons[cid].append(reason)
    if settings.enabled and settings.properties and config.targets:
        judge = resources.property_judge()
        wanted = [name for name in config.targets if name in judge.targets]
        if wanted:
            table = judge.predict([c.structures["relax"].composition for c in candidates])
            for k, candidate in enumerate(candidates):
                values[candidate.cid]["property_judge"] = judge.name
                for name in wanted:
                    values[candidate.cid][name] = float(table[name].iloc[k])
                    values[candidate.cid][f"{name}_std"] = float(table[f"{name}_std"].iloc[k])
    return [Outcome(c.cid, "passed", "; ".join(reasons[c.cid]), values[c.cid]) for c in candidates]


def _second_potential(config: CampaignConfig, candidates: list[Candidate]):
    """(cid, values, reason) per candidate from the second potential's relaxation."""
    settings = config.judge
    potential = resources.potential(settings.potential, settings.potential_path)
    references, hull = resources.stability_references(
        settings.potential, settings.potential_path, config.data_root, config.hull
    )
    rows: dict[str, dict] = {}
    crystals = CrystalSet([c.cid for c in candidates], [c.structures["relax"] for c in candidates])
    relax_crystals(
        crystals,
        potential,
        settings.settings,
        lambda row, result: rows.__setitem__(row["id"], row),
        references,
        hull,
    )
    for candidate in candidates:
        row = rows[candidate.cid]
        e_hull = float(row.get("e_above_hull_eV_atom", math.nan))
        judged = {
            "potential": potential.info.name,
            "converged": row["status"] == "converged",
            "e_above_hull_eV_atom": e_hull,
            "e_form_eV_atom": float(row.get("e_form_eV_atom", math.nan)),
            "decomposition": row.get("decomposition", ""),
            "hull": row.get("hull", ""),
            "steps": int(row["steps"]),
            "seconds": float(row["seconds"]),
        }
        reason = ""
        if not math.isfinite(e_hull):
            why = row["reason"] or row.get("hull_status", "")
            reason = f"{potential.info.name} gave no E_hull: {why}"
        yield candidate.cid, judged, reason
