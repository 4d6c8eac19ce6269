"""Relaxing one structure with an ASE calculator (Matbench Discovery protocol).

FIRE on ASE's FrechetCellFilter (positions and cell together) until the largest
force is under ``fmax`` eV/Å or ``max_steps`` is reached. Every way a relaxation
can go wrong ends as a :class:`RelaxResult` with a status and a one-sentence
reason, never as an exception, so a batch always completes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.filters import FrechetCellFilter
from ase.io import write
from ase.optimize import FIRE
from pydantic import Field
from pymatgen.core import Element, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.audit.geometry import min_periodic_distance
from gendesign.config import StrictConfig
from relax.potentials import Potential

Status = Literal["converged", "not_converged", "failed"]


class RelaxSettings(StrictConfig):
    """How to relax (forces in eV/Å, distances in Å, energies in eV/atom, time in s)."""

    fmax: float = Field(0.05, gt=0)
    max_steps: int = Field(500, ge=0)
    relax_cell: bool = True  # FrechetCellFilter; False keeps the cell fixed
    min_distance: float = Field(0.5, ge=0)  # closer atoms are refused before starting
    max_abs_energy_per_atom: float = Field(50.0, gt=0)  # beyond this the potential exploded
    time_limit_s: float | None = Field(600.0, gt=0)  # per structure; None: no limit
    # Many structures: torch-sim's batched FIRE (False: the ASE loop, one at a time)
    batched: bool = True
    # Most atoms in one batch (None: 256 on CPU, 4096 on CUDA)
    batch_atoms: int | None = Field(None, gt=0)


@dataclass
class RelaxResult:
    """What happened to one structure. Energies in eV, forces in eV/Å, lengths in Å."""

    status: Status
    reason: str  # "" when converged
    structure: Structure | None  # relaxed (or last) structure; None if never started
    energy: float = float("nan")
    energy_per_atom: float = float("nan")
    max_force: float = float("nan")
    steps: int = 0
    volume_change: float = float("nan")  # (V_final - V_initial) / V_initial
    rms_displacement: float = float("nan")  # of atoms, minimum-image, Å
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "converged"

    def as_row(self) -> dict:
        return {
            "status": self.status,
            "reason": self.reason,
            "energy_eV": self.energy,
            "energy_per_atom_eV": self.energy_per_atom,
            "max_force_eV_A": self.max_force,
            "steps": self.steps,
            "volume_change": self.volume_change,
            "rms_displacement_A": self.rms_displacement,
            "seconds": round(self.seconds, 3),
        }


def relax_structure(
    structure: Structure,
    potential: Potential,
    settings: RelaxSettings | None = None,
    trajectory: str | Path | None = None,
) -> RelaxResult:
    """Relax ``structure``; problems become a ``failed`` result with the reason.
    ``trajectory``: an extxyz file to write every step to."""
    settings = settings or RelaxSettings()
    start = time.perf_counter()
    refusal = refusal_reason(structure, potential, settings)
    if refusal:
        return RelaxResult("failed", refusal, None, seconds=time.perf_counter() - start)
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = potential.calculator
    initial = atoms.copy()
    target = FrechetCellFilter(atoms) if settings.relax_cell else atoms
    optimizer = FIRE(target, logfile=None)
    if trajectory:
        Path(trajectory).unlink(missing_ok=True)
    steps, reason, converged = 0, "", False
    try:
        # fmax=0: ASE's own test never fires; ours below, shared with the batched path, does
        for steps, _ in enumerate(optimizer.irun(fmax=0.0, steps=settings.max_steps)):
            if trajectory:  # one extxyz frame per step, with energy, forces and stress
                write(trajectory, atoms, format="extxyz", append=True)
            reason = _blown_up(atoms, settings)
            if reason:
                break
            if largest_force(atoms, target) < settings.fmax:
                converged = True
                break
            if settings.time_limit_s and time.perf_counter() - start > settings.time_limit_s:
                reason = f"time limit of {settings.time_limit_s:g} s reached after {steps} steps"
                break
    except Exception as err:  # the potential itself failed (e.g. no neighbours, CUDA error)
        reason = f"the potential failed: {type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    return _result(atoms, initial, steps, converged, reason, settings, seconds)


def largest_force(atoms: Atoms, target: Atoms | FrechetCellFilter) -> float:
    """The convergence measure (eV/Å): the largest atomic force, and with a cell filter
    also the largest cell 'force' (its virial components scaled by the filter)."""
    largest = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    if target is not atoms:
        cell_forces = target.get_forces()[len(atoms) :]
        largest = max(largest, float(np.linalg.norm(cell_forces, axis=1).max()))
    return largest


def refusal_reason(structure: Structure, potential: Potential, settings: RelaxSettings) -> str:
    """Why ``structure`` must not be started, or ""."""
    unknown = potential.unsupported_elements(structure.atomic_numbers)
    if unknown:
        symbols = ", ".join(Element.from_Z(z).symbol for z in unknown)
        return f"element(s) {symbols} not in the training data of {potential.info.name}"
    distance = min_periodic_distance(structure)
    if distance < settings.min_distance:
        return f"atoms {distance:.2f} Å apart, closer than the {settings.min_distance:g} Å floor"
    return ""


def _blown_up(atoms: Atoms, settings: RelaxSettings) -> str:
    energy = atoms.get_potential_energy() / len(atoms)
    if not np.isfinite(energy) or not np.all(np.isfinite(atoms.get_forces())):
        return "energy or forces became NaN or infinite"
    if abs(energy) > settings.max_abs_energy_per_atom:
        return f"energy exploded ({energy:.3g} eV/atom)"
    return ""


def _result(
    atoms: Atoms,
    initial: Atoms,
    steps: int,
    converged: bool,
    reason: str,
    settings: RelaxSettings,
    seconds: float,
) -> RelaxResult:
    try:
        energy = float(atoms.get_potential_energy())
        max_force = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    except Exception as err:
        reason = reason or f"the potential failed: {type(err).__name__}: {err}"
        energy, max_force = float("nan"), float("nan")
    finite = np.isfinite(energy) and np.all(np.isfinite(atoms.positions))
    structure = AseAtomsAdaptor.get_structure(atoms) if finite else None
    if reason:
        status: Status = "failed"
    elif converged:
        status = "converged"
    else:
        status = "not_converged"
        reason = f"max force {max_force:.3f} eV/Å after {steps} steps (fmax {settings.fmax:g})"
    return RelaxResult(
        status=status,
        reason=reason,
        structure=structure,
        energy=energy,
        energy_per_atom=energy / len(atoms),
        max_force=max_force,
        steps=steps,
        volume_change=atoms.get_volume() / initial.get_volume() - 1,
        rms_displacement=rms_displacement(initial, atoms),
        seconds=seconds,
    )


def rms_displacement(initial: Atoms, final: Atoms) -> float:
    """Root-mean-square atom displacement in Å: fractional shifts wrapped to the nearest
    image, measured in the final cell."""
    shift = final.get_scaled_positions(wrap=False) - initial.get_scaled_positions(wrap=False)
    shift -= np.round(shift)
    cartesian = shift @ final.cell.array
    return float(np.sqrt((cartesian**2).sum(axis=1).mean()))
