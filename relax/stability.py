"""Formation energy and energy above hull of a relaxed structure, as result columns."""

from __future__ import annotations

import math

from pymatgen.core import Composition

from relax.energies import ElementReferences
from relax.hull import HullReference


def stability_columns(
    composition: Composition | None,
    energy: float,
    references: ElementReferences | None,
    hull: HullReference | None,
    potential: str,
    converged: bool = True,
) -> dict:
    """``e_form_eV_atom``, ``e_above_hull_eV_atom``, ``e_above_hull_unconverged_eV_atom``,
    ``decomposition``, ``hull_status`` ("ok" or one sentence why not), ``hull`` (the
    reference's tag, e.g. ``full@1a2b3c4d5e``) and ``hull_coverage`` (empty, or the sentence
    saying the E_hull is a lower bound: :meth:`relax.hull.HullReference.coverage`) for a
    structure of ``composition`` at total ``energy`` (eV).

    A structure whose relaxation did not converge gets no E_form or E_hull (its energy
    is not a minimum's): its last-step estimate goes to ``e_above_hull_unconverged_eV_atom``
    and ``hull_status`` says so."""
    if not converged:
        estimate = stability_columns(composition, energy, references, hull, potential)
        return {
            "e_form_eV_atom": math.nan,
            "e_above_hull_eV_atom": math.nan,
            "e_above_hull_unconverged_eV_atom": estimate["e_above_hull_eV_atom"],
            "decomposition": "",
            "hull_status": "not converged: E_hull withheld (last-step estimate in "
            "e_above_hull_unconverged_eV_atom)",
            "hull": estimate["hull"],
            "hull_coverage": estimate["hull_coverage"],
        }
    columns = {
        "e_form_eV_atom": math.nan,
        "e_above_hull_eV_atom": math.nan,
        "e_above_hull_unconverged_eV_atom": math.nan,
        "decomposition": "",
        "hull_status": "ok",
        "hull": hull.tag if hull is not None else "",
        "hull_coverage": "",
    }
    if composition is None or not math.isfinite(energy):
        return columns | {"hull_status": "no energy"}
    if references is None or hull is None:
        return columns | {
            "hull_status": f"no element reference energies for {potential} "
            "(fit them with python -m relax.fit_references)"
        }
    missing = references.missing(composition)
    if missing:
        return columns | {"hull_status": f"no reference energy for {', '.join(missing)}"}
    e_form = references.formation_energy_per_atom(composition, energy)
    result = hull.e_above_hull(composition, e_form)
    return columns | {
        "e_form_eV_atom": e_form,
        "e_above_hull_eV_atom": result.e_above_hull,
        "decomposition": result.decomposition,
        "hull_status": result.reason or result.status,
        "hull_coverage": hull.coverage(composition).note() if result.status == "ok" else "",
    }
