"""Everything the audit measures on one structure, and running it over many in parallel."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from pymatgen.core import Structure

from gendesign.audit.composition import (
    DEFAULT_OXIDATION_STATES,
    DEFAULT_POLICY,
    OxidationPolicy,
    OxidationStateList,
    charge_balanced,
    reduced_counts,
    smact_validity,
)
from gendesign.audit.fingerprints import composition_fingerprint, structure_fingerprint
from gendesign.audit.symmetry import SYMPRECS, symmetry_columns
from gendesign.data.geometry import (
    MIN_INTERATOMIC_DISTANCE_A,
    lattice_problem,
    min_periodic_distance,
)

# Below this many structures the worker start-up costs more than it saves.
_MIN_ITEMS_FOR_WORKERS = 24


@dataclass
class StructureAudit:
    """One structure's audit row plus its fingerprints (None when they failed)."""

    row: dict[str, object]
    structure_fp: np.ndarray | None
    composition_fp: np.ndarray | None


# The columns of an audit row, in order (an unreadable item fills the first few only).
AUDIT_COLUMNS = (
    "readable", "formula", "reduced_formula", "n_atoms", "n_elements", "volume_A3",
    "density_g_cm3", "lattice_ok", "min_distance_A", "struct_valid", "comp_valid",
    "comp_reason", "no_oxidation_data", "valid", "reason", "balanced",
    *(f"{kind}_{symprec:g}" for symprec in SYMPRECS for kind in ("spacegroup", "spacegroup_symbol")),
    "crystal_system", "fingerprint_error", "read_note",
)  # fmt: skip


def audit_structure(
    structure: Structure,
    fingerprints: bool = True,
    oxidation_states: OxidationStateList = DEFAULT_OXIDATION_STATES,
    policy: OxidationPolicy = DEFAULT_POLICY,
) -> StructureAudit:
    """Lattice, distance, composition and symmetry checks plus descriptors of one structure.

    ``reason`` holds the first failed check (lattice, then distance, then
    composition) and is empty for a valid structure. ``comp_valid`` uses the
    ``oxidation_states`` list; when that is not the default, ``comp_valid_icsd24``
    gives the stricter default verdict beside it. ``balanced`` is the verdict of the
    oxidation-state ``policy`` that the generator and the sources also follow.
    """
    symbols, counts = reduced_counts(structure)
    composition = structure.composition
    row: dict[str, object] = {
        "readable": True,
        "formula": composition.formula.replace(" ", ""),
        "reduced_formula": composition.reduced_formula,
        "n_atoms": len(structure),
        "n_elements": len(symbols),
        "volume_A3": float(structure.volume),
        "density_g_cm3": float(structure.density) if structure.volume > 0 else float("nan"),
    }
    lattice_reason = lattice_problem(structure)
    row["lattice_ok"] = not lattice_reason

    distance = min_periodic_distance(structure) if not lattice_reason else float("nan")
    row["min_distance_A"] = distance
    row["struct_valid"] = bool(not lattice_reason and distance >= MIN_INTERATOMIC_DISTANCE_A)

    verdict = smact_validity(symbols, counts, oxidation_states)
    row["comp_valid"] = verdict.valid
    if oxidation_states != DEFAULT_OXIDATION_STATES:
        row[f"comp_valid_{DEFAULT_OXIDATION_STATES}"] = smact_validity(symbols, counts).valid
    row["comp_reason"] = verdict.reason
    row["no_oxidation_data"] = ";".join(verdict.elements_without_oxidation_states)
    row["valid"] = bool(row["struct_valid"] and verdict.valid)
    if lattice_reason:
        row["reason"] = lattice_reason
    elif not row["struct_valid"]:
        row["reason"] = f"atoms {distance:.3f} Å apart, closer than {MIN_INTERATOMIC_DISTANCE_A} Å"
    else:
        row["reason"] = verdict.reason
    row["balanced"] = charge_balanced(symbols, counts, policy)

    row.update(_symmetry_or_blank(structure, skip=bool(lattice_reason)))
    structure_fp = composition_fp = None
    row["fingerprint_error"] = ""
    row["read_note"] = structure.properties.get("read_note", "")
    if fingerprints and not lattice_reason:
        try:
            composition_fp = composition_fingerprint(structure)
            structure_fp = structure_fingerprint(structure)
        except Exception as err:  # matminer raises many kinds on odd geometries
            row["fingerprint_error"] = f"{type(err).__name__}: {err}"
            structure_fp = composition_fp = None
    return StructureAudit(row, structure_fp, composition_fp)


def _symmetry_or_blank(structure: Structure, skip: bool) -> dict[str, object]:
    if not skip:
        try:
            return symmetry_columns(structure)
        except Exception:  # spglib rejects some degenerate cells outright
            pass
    blank: dict[str, object] = {}
    for symprec in SYMPRECS:
        blank[f"spacegroup_{symprec:g}"] = None
        blank[f"spacegroup_symbol_{symprec:g}"] = None
    blank["crystal_system"] = None
    return blank


def _audit_chunk(
    structures: Sequence[Structure],
    fingerprints: bool,
    oxidation_states: OxidationStateList,
    policy: OxidationPolicy,
) -> list[StructureAudit]:
    return [audit_structure(s, fingerprints, oxidation_states, policy) for s in structures]


def available_workers() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def audit_structures(
    structures: Sequence[Structure],
    fingerprints: bool = True,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    oxidation_states: OxidationStateList = DEFAULT_OXIDATION_STATES,
    policy: OxidationPolicy = DEFAULT_POLICY,
) -> list[StructureAudit]:
    """:func:`audit_structure` over many structures, spread over ``workers`` processes
    (default: all available cores); ``on_progress(n_done)`` is called as chunks finish."""
    workers = workers or available_workers()
    if workers <= 1 or len(structures) < _MIN_ITEMS_FOR_WORKERS:
        results = []
        for structure in structures:
            results.append(audit_structure(structure, fingerprints, oxidation_states, policy))
            if on_progress:
                on_progress(1)
        return results

    chunk = max(1, min(32, len(structures) // (workers * 8)))
    chunks = [structures[i : i + chunk] for i in range(0, len(structures), chunk)]
    jobs = Parallel(n_jobs=workers, return_as="generator")(
        delayed(_audit_chunk)(part, fingerprints, oxidation_states, policy) for part in chunks
    )
    results = []
    for part in jobs:
        results.extend(part)
        if on_progress:
            on_progress(len(part))
    return results
