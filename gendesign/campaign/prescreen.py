"""Stage 3, pre-screen: a cheap stability estimate for every audited candidate.

The relaxation potential's energy, either of the structure as generated (a batched
single point) or after a few batched FIRE steps, becomes a formation energy through
the potential's element references and an E_hull against the reference hull. A
candidate estimated above ``prescreen.e_hull_max`` drops with its value as the
reason; the short-relaxed structure (when ``steps`` > 0) is where screening and the
full relaxation start from.
"""

from __future__ import annotations

import math

from pymatgen.core import Structure

from gendesign.campaign import resources
from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig
from gendesign.data.crystal_set import CrystalSet
from relax.energies import single_point_energies
from relax.relaxation import RelaxResult, RelaxSettings
from relax.runner import relax_crystals
from relax.stability import stability_columns


def prescreen_batch(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """E_hull estimates of ``candidates``; see the module docstring."""
    settings = config.prescreen
    if not settings.enabled:
        return [Outcome(c.cid, "passed") for c in candidates]
    relax = config.relax
    potential = resources.potential(relax.potential, relax.potential_path)
    references, hull = resources.stability_references(
        relax.potential, relax.potential_path, config.data_root, config.hull
    )
    structures = [c.structures["generate"] for c in candidates]
    energies, moved = prescreen_energies(structures, potential, settings.steps, relax.settings.fmax)
    method = f"{potential.info.name}, " + (
        f"{settings.steps} FIRE steps" if settings.steps else "single point"
    )
    outcomes = []
    for candidate, energy, structure in zip(candidates, energies, moved, strict=True):
        if not math.isfinite(energy):
            reason = f"pre-screen: {potential.info.name} gave no energy for this structure"
            outcomes.append(Outcome(candidate.cid, "failed", reason))
            continue
        columns = stability_columns(
            structure.composition, energy, references, hull, potential.info.name
        )
        values = {
            "energy_per_atom_eV": energy / len(structure),
            "e_form_eV_atom": columns["e_form_eV_atom"],
            "e_above_hull_eV_atom": columns["e_above_hull_eV_atom"],
            "hull_status": columns["hull_status"],
            "hull": columns["hull"],
            "method": method,
        }
        e_hull = columns["e_above_hull_eV_atom"]
        status, reason = "passed", ""
        if math.isfinite(e_hull) and e_hull > settings.e_hull_max:
            status = "dropped"
            reason = (
                f"pre-screen E_hull {e_hull:.3f} eV/atom above {settings.e_hull_max:g} ({method})"
            )
        kept = structure if settings.steps else None
        outcomes.append(Outcome(candidate.cid, status, reason, values, kept))
    return outcomes


def prescreen_energies(
    structures: list[Structure], potential, steps: int, fmax: float
) -> tuple[list[float], list[Structure]]:
    """Total energies (eV) and the structures they belong to: single points for
    ``steps`` = 0, else after at most ``steps`` batched FIRE steps."""
    if steps == 0:
        return list(single_point_energies(structures, potential)), list(structures)
    energies = [math.nan] * len(structures)
    moved = list(structures)
    ids = [str(k) for k in range(len(structures))]

    def record(row: dict, result: RelaxResult) -> None:
        k = int(row["id"])
        if result.structure is not None and result.status != "failed":
            energies[k], moved[k] = result.energy, result.structure

    settings = RelaxSettings(max_steps=steps, fmax=fmax, time_limit_s=None)
    relax_crystals(CrystalSet(ids, list(structures)), potential, settings, record)
    return energies, moved
