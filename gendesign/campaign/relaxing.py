"""Stage 4, relax: the selected candidates relaxed by the potential, with E_form and E_hull."""

from __future__ import annotations

from gendesign.campaign import resources
from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig
from gendesign.data.crystal_set import CrystalSet
from relax.runner import relax_crystals

# Columns of a relaxation row kept in the store (eV, eV/atom, eV/Å, Å, s).
_KEPT = (
    "energy_per_atom_eV",
    "max_force_eV_A",
    "steps",
    "volume_change",
    "rms_displacement_A",
    "seconds",
    "e_form_eV_atom",
    "e_above_hull_eV_atom",
    "e_above_hull_unconverged_eV_atom",
    "decomposition",
    "hull_status",
    "hull",
    "hull_coverage",
    "potential",
)


def relax_batch(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """Relax the candidates (from the pre-screen's structure when it moved them); converged and unconverged ones both go on (the
    ``converged`` value tells them apart), failures are recorded with their reason."""
    settings = config.relax
    potential = resources.potential(settings.potential, settings.potential_path)
    references, hull = resources.stability_references(
        settings.potential, settings.potential_path, config.data_root, config.hull
    )
    outcomes: dict[str, Outcome] = {}

    def record(row: dict, result) -> None:
        values = {key: row[key] for key in _KEPT if key in row}
        values["converged"] = result.status == "converged"
        if result.status == "failed" or result.structure is None:
            # A failed relaxation's energy means nothing; keep only how far it got.
            kept = {k: values[k] for k in ("steps", "seconds", "potential", "converged")}
            outcomes[row["id"]] = Outcome(row["id"], "failed", row["reason"], kept)
        else:
            outcomes[row["id"]] = Outcome(
                row["id"], "passed", row["reason"], values, result.structure
            )

    crystals = CrystalSet([c.cid for c in candidates], [c.unrelaxed for c in candidates])
    relax_crystals(crystals, potential, settings.settings, record, references, hull)
    return [outcomes[c.cid] for c in candidates]
