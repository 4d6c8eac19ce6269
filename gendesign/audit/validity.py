"""The per-structure stage's table: one row per input item (unreadable and left-out
items included, with their reason), and the validity and symmetry shares of the summary."""

from __future__ import annotations

from collections import Counter

import pandas as pd
from pymatgen.core import Structure

from gendesign.audit.structure_audit import AUDIT_COLUMNS, StructureAudit
from gendesign.audit.summary import Counts, Symmetry, Validity
from gendesign.data.crystal_set import CrystalSet, SkippedItem
from gendesign.data.validation import NOT_AUDITED, too_many_atoms


def within_atom_limit(crystals: CrystalSet, max_atoms: int) -> CrystalSet:
    """``crystals`` with each structure of more than ``max_atoms`` atoms moved to the
    skipped items, with the reason."""
    small = [k for k, structure in enumerate(crystals.structures) if len(structure) <= max_atoms]
    if len(small) == len(crystals):
        return crystals
    kept = crystals.subset(small)
    for k in sorted(set(range(len(crystals))) - set(small)):
        kept.skipped.append(
            SkippedItem(
                crystals.source or "input",
                crystals.ids[k],
                too_many_atoms(len(crystals.structures[k]), max_atoms),
            )
        )
    return kept


def per_structure_table(crystals, audits: list[StructureAudit]) -> pd.DataFrame:
    rows = [{"id": item_id, **a.row} for item_id, a in zip(crystals.ids, audits, strict=True)]
    for item in crystals.skipped:
        rows.append(
            {
                "id": item.item_id,
                "readable": False,
                "lattice_ok": False,
                "struct_valid": False,
                "comp_valid": False,
                "valid": False,
                "reason": item.reason
                if item.reason.startswith(NOT_AUDITED)
                else f"unreadable: {item.reason} ({item.source})",
            }
        )
    # every column exists even when nothing was readable, so each stage and report can
    # read an empty or all-unreadable table
    table = pd.DataFrame(rows)
    return table.reindex(columns=list(dict.fromkeys(["id", *AUDIT_COLUMNS, *table.columns])))


def structures_by_row(crystals, table: pd.DataFrame) -> list[Structure | None]:
    return list(crystals.structures) + [None] * (len(table) - len(crystals.structures))


def oxidation_states_for(protocol: str) -> str:
    """SMACT oxidation-state list of a protocol: CDVAE evaluated with the 2014 list."""
    return "smact14" if protocol == "cdvae" else "icsd24"


def validity_summary(table: pd.DataFrame) -> dict:
    n = len(table)
    fraction = {
        column: float(table[column].astype(bool).mean()) if n else float("nan")
        for column in ("readable", "lattice_ok", "struct_valid", "comp_valid", "valid")
    }
    reasons = Counter(r for r in table["reason"].fillna("") if r)
    missing = Counter(
        element
        for value in table.get("no_oxidation_data", pd.Series(dtype=str)).fillna("")
        for element in str(value).split(";")
        if element
    )
    icsd24 = "comp_valid_icsd24" in table and n
    return {
        "n_items": n,
        "counts": Counts(**{c: int(table[c].astype(bool).sum()) for c in fraction}),
        "validity": Validity(
            readable=fraction["readable"],
            lattice=fraction["lattice_ok"],
            structural=fraction["struct_valid"],
            compositional=fraction["comp_valid"],
            overall=fraction["valid"],
            compositional_icsd24=float(table["comp_valid_icsd24"].astype(bool).mean())
            if icsd24
            else None,
            balanced=float(table["balanced"].astype(bool).mean())
            if "balanced" in table and n
            else None,
        ),
        "failure_reasons": dict(reasons.most_common(15)),
        "elements_without_oxidation_data": dict(missing),
    }


def symmetry_summary(table: pd.DataFrame) -> Symmetry | None:
    valid = table[table["valid"].astype(bool)]
    if valid.empty:
        return None
    systems = valid["crystal_system"].fillna("none").value_counts(normalize=True)
    loose = valid["spacegroup_0.1"]
    return Symmetry(
        crystal_systems={k: float(v) for k, v in systems.items()},
        fraction_p1=float((loose == 1).mean()),
        n_space_groups=int(loose.dropna().nunique()),
    )
