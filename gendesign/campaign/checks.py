"""Stages 2 and 5, audit and re-audit: validity, symmetry, novelty and uniqueness.

The per-candidate checks run in batches on any worker; uniqueness compares every
candidate with every other, so it runs once, in the coordinator, over the whole
campaign (:func:`mark_duplicates`).
"""

from __future__ import annotations

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from gendesign.audit.matching import MATCHER_TOLERANCES, NoveltyMatch, duplicate_of
from gendesign.audit.structure_audit import audit_structure
from gendesign.campaign import resources
from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.screen import predicted_values
from gendesign.data.energy_tables import known_formula_note


def audit_batch(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """Validity (lattice, distances, charge balance), symmetry and novelty class
    (known, substitution-derived, novel-framework) of the generated structures."""
    structures = [c.structures["generate"] for c in candidates]
    return _checked(config, candidates, structures, what="generated")


def reaudit_batch(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """The relaxed structures checked again, plus the predictor on them and whether
    relaxation kept the generated structure (StructureMatcher)."""
    relaxed = [c.structures["relax"] for c in candidates]
    outcomes = _checked(config, candidates, relaxed, what="relaxed")
    estimates = predicted_values(config, relaxed)
    matcher = StructureMatcher(**MATCHER_TOLERANCES)
    for outcome, candidate, values in zip(outcomes, candidates, estimates, strict=True):
        outcome.values.update(values)
        outcome.values["kept_structure"] = bool(
            matcher.fit(candidate.structures["generate"], candidate.structures["relax"])
        )
    return outcomes


def _checked(
    config: CampaignConfig, candidates: list[Candidate], structures: list[Structure], what: str
) -> list[Outcome]:
    policy = config.oxidation_states
    rows = [audit_structure(s, fingerprints=False, policy=policy).row for s in structures]
    for row in rows:  # the campaign's policy decides charge balance for every source alike
        if row["valid"] and not row["balanced"]:
            row["valid"] = False
            row["reason"] = f"not charge balanced under {policy} oxidation states"
    valid = [k for k, row in enumerate(rows) if row["valid"]]
    matches = _novelty(config, [structures[k] for k in valid])
    match_by_row = dict(zip(valid, matches, strict=True))
    outcomes = []
    for k, (candidate, row) in enumerate(zip(candidates, rows, strict=True)):
        values = {
            "valid": bool(row["valid"]),
            "struct_valid": bool(row["struct_valid"]),
            "comp_valid": bool(row["comp_valid"]),
            "balanced": bool(row["balanced"]),
            "density_g_cm3": row["density_g_cm3"],
            "min_distance_A": row["min_distance_A"],
            "spacegroup": row["spacegroup_0.1"],
            "spacegroup_symbol": row["spacegroup_symbol_0.1"],
            "crystal_system": row["crystal_system"],
            "reduced_formula": row["reduced_formula"],
        }
        match = match_by_row.get(k)  # None (nothing stored) when not judged
        if match is not None:
            values["novel"] = match.novel
            values["novelty_class"] = match.novelty_class
            values["matched_id"] = match.matched_id
            values["matched_split"] = match.matched_split
            if match.novel:  # a new structure; is its compound known all the same?
                values["formula_note"] = known_formula_note(
                    row["reduced_formula"], config.data_root
                )
        status, reason = "passed", ""
        if not row["valid"] and not config.audit.keep_invalid:
            status, reason = "dropped", f"{what} structure invalid: {row['reason']}"
        elif values.get("novel") is False and not config.audit.keep_known:
            status = "dropped"
            reason = f"{what} structure is a known crystal ({match.matched_split})"
        outcomes.append(Outcome(candidate.cid, status, reason, values))
    return outcomes


def _novelty(config: CampaignConfig, structures: list[Structure]) -> list[NoveltyMatch | None]:
    audit = config.audit
    if (audit.novelty_reference is None and audit.known is None) or not structures:
        return [None] * len(structures)
    reference = resources.novelty_reference(audit.novelty_reference, config.data_root, audit.known)
    return reference.classify(structures)


def mark_duplicates(candidates: list[Candidate]) -> list[Outcome]:
    """For candidates that passed the audit (in id order): the first of each kind stays,
    the later ones are dropped as duplicates of it."""
    candidates = sorted(candidates, key=lambda c: c.cid)
    structures = [c.structures["generate"] for c in candidates]
    formulas = [s.composition.reduced_formula for s in structures]
    first = duplicate_of(structures, formulas)
    outcomes = []
    for k, candidate in enumerate(candidates):
        if first[k] == k:
            outcomes.append(Outcome(candidate.cid, "passed", values={"unique": True}))
        else:
            leader = candidates[first[k]].cid
            outcomes.append(
                Outcome(
                    candidate.cid,
                    "dropped",
                    f"duplicate of {leader}",
                    values={"unique": False, "duplicate_of": leader},
                )
            )
    return outcomes
