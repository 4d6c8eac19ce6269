"""Relaxing one structure with an ASE calculator (Matbench Discovery protocol).

FIRE on ASE's FrechetCellFilter (positions and cell together) until the largest
force is under ``fmax`` eV/Å or ``max_steps`` is reached. Every way a relaxation
can go wrong ends as a :class:`RelaxResult` with a status and a one-sentence
reason, never as an exception, so a batch always completes.
"""

from __future__ import annotations

import math
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

from gendesign.config import StrictConfig
from gendesign.data.geometry import min_periodic_distance
from relax.potentials import Potential

Status = Literal["converged", "not_converged", "failed"]


class RelaxSettings(StrictConfig):
    """How to relax (forces in eV/Å, distances in Å, energies in eV/atom, time in s)."""

    fmax: float = Field(0.05, gt=0)  # eV/Å: converged when every atomic and cell force is below
    max_steps: int = Field(500, ge=0)  # FIRE steps; a structure still above fmax is not converged
    relax_cell: bool = True  # FrechetCellFilter; False keeps the cell fixed
    min_distance: float = Field(0.5, ge=0)  # closer atoms are refused before starting
    max_abs_energy_per_atom: float = Field(50.0, gt=0)  # beyond this the potential exploded
    # Per structure, of its own compute: alone, its wall time; in a batch, its share of
    # each step's wall time (by atoms). None: no limit. Reaching it ends as not converged.
    time_limit_s: float | None = Field(600.0, gt=0)
    # Many structures: torch-sim's batched FIRE (False: the ASE loop, one at a time)
    batched: bool = True
    # Most atoms in one batch (None: 16 on CPU, 4096 on CUDA; relax.batched)
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
    seconds: float = 0.0  # its own compute: alone its wall time, in a batch its share

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
    steps, stop = 0, None
    try:
        # fmax=0: ASE's own test never fires; the shared stop rule below does
        for steps, _ in enumerate(optimizer.irun(fmax=0.0, steps=settings.max_steps)):
            if trajectory:  # one extxyz frame per step, with energy, forces and stress
                write(trajectory, atoms, format="extxyz", append=True)
            energy = atoms.get_potential_energy() / len(atoms)
            finite = bool(np.all(np.isfinite(atoms.get_forces())))
            force = largest_force(atoms, target) if finite else float("nan")
            stop = stop_rule(energy, finite, force, steps, time.perf_counter() - start, settings)
            if stop:
                break
    except Exception as err:  # the potential itself failed (e.g. no neighbours, CUDA error)
        stop = Stop("failed", f"the potential failed: {type(err).__name__}: {err}")
    seconds = time.perf_counter() - start
    return _result(atoms, initial, steps, stop or Stop("not_converged"), settings, seconds)


@dataclass(frozen=True)
class Stop:
    """Why a relaxation ends: its status and, unless converged, one sentence why."""

    status: Status
    reason: str = ""  # "" for converged; filled in by the result for not_converged


def stop_rule(
    energy_per_atom: float,
    forces_finite: bool,
    max_force: float,
    steps: int,
    compute_seconds: float,
    settings: RelaxSettings,
) -> Stop | None:
    """The one stop test of both relaxation paths, checked after every step: None to go on.

    ``max_force`` (eV/Å) is the convergence measure of :func:`largest_force`;
    ``compute_seconds`` the structure's own compute so far (see ``RelaxSettings``)."""
    if not math.isfinite(energy_per_atom) or not forces_finite:
        return Stop("failed", "energy or forces became NaN or infinite")
    if abs(energy_per_atom) > settings.max_abs_energy_per_atom:
        return Stop("failed", f"energy exploded ({energy_per_atom:.3g} eV/atom)")
    if max_force < settings.fmax:
        return Stop("converged")
    if steps >= settings.max_steps:
        return Stop("not_converged")
    if settings.time_limit_s and compute_seconds > settings.time_limit_s:
        return Stop(
            "not_converged",
            f"time limit of {settings.time_limit_s:g} s of compute reached after {steps} steps "
            f"(max force {max_force:.3f} eV/Å, fmax {settings.fmax:g})",
        )
    return None


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


def _result(
    atoms: Atoms, initial: Atoms, steps: int, stop: Stop, settings: RelaxSettings, seconds: float
) -> RelaxResult:
    try:
        energy = float(atoms.get_potential_energy())
        max_force = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    except Exception as err:
        if stop.status != "failed":
            stop = Stop("failed", f"the potential failed: {type(err).__name__}: {err}")
        energy, max_force = float("nan"), float("nan")
    return make_result(atoms, initial, steps, stop, energy, max_force, settings, seconds)


def make_result(
    final: Atoms,
    initial: Atoms,
    steps: int,
    stop: Stop,
    energy: float,
    max_force: float,
    settings: RelaxSettings,
    seconds: float,
) -> RelaxResult:
    """The result of both paths from the last state (``energy`` in eV, ``max_force`` in eV/Å)."""
    reason = stop.reason
    if stop.status == "not_converged" and not reason:
        reason = f"max force {max_force:.3f} eV/Å after {steps} steps (fmax {settings.fmax:g})"
    finite = math.isfinite(energy) and np.all(np.isfinite(final.positions))
    structure = AseAtomsAdaptor.get_structure(final) if finite else None
    status = stop.status
    distance = min_periodic_distance(structure) if structure is not None else math.inf
    if status != "failed" and distance < settings.min_distance:
        # Atoms merged onto one site: the potential counts them as one, so its energy
        # means nothing, and the crystal cannot be written as a readable CIF.
        status, structure = "failed", None
        reason = (
            f"atoms collapsed to {distance:.2f} Å apart during the relaxation, closer than "
            f"the {settings.min_distance:g} Å floor"
        )
    return RelaxResult(
        status=status,
        reason=reason,
        structure=structure,
        energy=energy,
        energy_per_atom=energy / len(final),
        max_force=max_force,
        steps=steps,
        volume_change=final.get_volume() / initial.get_volume() - 1,
        rms_displacement=rms_displacement(initial, final),
        seconds=seconds,
    )


def rms_displacement(initial: Atoms, final: Atoms) -> float:
    """Root-mean-square atom displacement in Å: fractional shifts wrapped to the nearest
    image, measured in the final cell."""
    shift = final.get_scaled_positions(wrap=False) - initial.get_scaled_positions(wrap=False)
    shift -= np.round(shift)
    cartesian = shift @ final.cell.array
    return float(np.sqrt((cartesian**2).sum(axis=1).mean()))
