"""Relaxing many structures at once with torch-sim's batched FIRE.

All structures in flight share one forward pass per step. Each structure leaves
the batch as soon as it converges, fails or runs out of steps, and the next
waiting structure takes its place, so the batch stays full (in-flight batching).
The protocol matches :func:`relax.relaxation.relax_structure`: FIRE (ASE flavour)
on the Fréchet cell parameterisation, converged when every atomic and cell force
is under ``fmax``, with the same stop rule (:func:`relax.relaxation.stop_rule`).
A structure's time limit counts its own share of each step's wall time (in
proportion to its atoms), so it means the same in a batch as alone. A batch the
potential cannot evaluate at all is logged with the error and falls back to the
sequential ASE loop, so one bad structure never costs the others their results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch_sim as ts
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from torch_sim.models.interface import ModelInterface
from torch_sim.state import SimState, concatenate_states

from relax.potentials import Potential
from relax.relaxation import (
    RelaxResult,
    RelaxSettings,
    Stop,
    make_result,
    refusal_reason,
    relax_structure,
    stop_rule,
)
from relax.torchsim_models import batched_model

log = logging.getLogger(__name__)


@dataclass
class _InFlight:
    """Bookkeeping for one structure in the batch."""

    index: int  # position in the caller's list
    atoms: int  # its number of atoms
    steps: int = 0
    compute_s: float = 0.0  # its share of the batch's step times so far (by atoms)


def relax_batched(
    structures: Sequence[Structure],
    potential: Potential,
    settings: RelaxSettings | None = None,
    on_result: Callable[[int, RelaxResult], None] | None = None,
) -> list[RelaxResult]:
    """Relax ``structures`` in batches of at most ``settings.batch_atoms`` atoms.

    ``on_result(index, result)`` is called as each structure finishes (in finishing
    order), so a caller can save it at once. Returns results in input order.
    """
    settings = settings or RelaxSettings()
    results: list[RelaxResult | None] = [None] * len(structures)

    def finish(index: int, result: RelaxResult) -> None:
        results[index] = result
        if on_result:
            on_result(index, result)

    queue = []
    for index, structure in enumerate(structures):
        refusal = refusal_reason(structure, potential, settings)
        if refusal:
            finish(index, RelaxResult("failed", refusal, None))
        else:
            queue.append(index)
    if queue:
        _BatchRelaxer(structures, potential, settings, finish).run(queue)
    return results  # type: ignore[return-value]


class _BatchRelaxer:
    def __init__(self, structures, potential: Potential, settings: RelaxSettings, finish):
        self.structures = structures
        self.potential = potential
        self.settings = settings
        self.finish = finish
        self.model = batched_model(potential)
        optimizer = ts.frechet_cell_fire if settings.relax_cell else ts.fire
        self.init_fn, self.update_fn = optimizer(model=self.model, md_flavor="ase_fire")
        self.capacity = batch_capacity(potential, settings.batch_atoms)

    def run(self, queue: list[int]) -> None:
        queue = list(queue)
        state, flight = None, []
        while queue or flight:
            try:
                state, flight = self._refill(state, flight, queue)
                if state is None:  # nothing fitted in the batch
                    continue
                state, flight = self._step(state, flight)
            except Exception as err:  # the batched potential failed: go one by one
                log.warning(
                    "batched relaxation failed (%s: %s); relaxing its %d structures one by one",
                    type(err).__name__, err, len(flight),
                )  # fmt: skip
                for item in flight:
                    self._sequential(item.index)
                state, flight = None, []

    def _refill(self, state, flight: list[_InFlight], queue: list[int]):
        """Add waiting structures while the batch has room (always at least one)."""
        atoms = sum(len(self.structures[item.index]) for item in flight)
        new: list[int] = []
        while queue and (
            not flight and not new or atoms + len(self.structures[queue[0]]) <= self.capacity
        ):
            atoms += len(self.structures[queue[0]])
            new.append(queue.pop(0))
        if not new:
            return state, flight
        try:
            fresh = self.init_fn(
                ts.initialize_state(
                    [self.structures[i] for i in new], self.model.device, self.model.dtype
                )
            )
        except Exception as err:  # one of the new structures breaks the potential
            log.warning(
                "batched relaxation could not start %d structures (%s: %s); relaxing them one by one",
                len(new), type(err).__name__, err,
            )  # fmt: skip
            for index in new:
                self._sequential(index)
            return state, flight
        flight = flight + [_InFlight(index, len(self.structures[index])) for index in new]
        state = fresh if state is None else concatenate_states([state, fresh])
        return state, flight

    def _step(self, state, flight: list[_InFlight]):
        """Retire the structures that are done, then one FIRE step for the rest."""
        done = self._finished(state, flight)
        for k, stop in sorted(done.items()):
            self.finish(flight[k].index, self._result(state[k], flight[k], stop))
        keep = [k for k in range(len(flight)) if k not in done]
        if not keep:
            return None, []
        if done:
            state, flight = state[keep], [flight[k] for k in keep]
        started = time.perf_counter()
        state = self.update_fn(state)
        seconds = time.perf_counter() - started
        total = sum(item.atoms for item in flight)
        for item in flight:
            item.steps += 1
            item.compute_s += seconds * item.atoms / total
        return state, flight

    def _finished(self, state, flight: list[_InFlight]) -> dict[int, Stop]:
        """Systems that stop now: position in batch -> why."""
        n_atoms = state.n_atoms_per_system
        energy_per_atom = (state.energy / n_atoms).detach().cpu().numpy()
        force = _max_per_system(state.forces.norm(dim=1), state.system_idx, state.n_systems)
        finite_forces = _max_per_system(
            (~torch.isfinite(state.forces)).any(dim=1).to(state.forces.dtype),
            state.system_idx,
            state.n_systems,
        )
        if hasattr(state, "cell_forces"):
            force = np.maximum(
                force, state.cell_forces.norm(dim=2).amax(dim=1).detach().cpu().numpy()
            )
        done = {}
        for k, item in enumerate(flight):
            stop = stop_rule(
                float(energy_per_atom[k]), not finite_forces[k] > 0, float(force[k]),
                item.steps, item.compute_s, self.settings,
            )  # fmt: skip
            if stop:
                done[k] = stop
        return done

    def _result(self, system: SimState, item: _InFlight, stop: Stop) -> RelaxResult:
        initial = AseAtomsAdaptor.get_atoms(self.structures[item.index])
        final = system.to_atoms()[0]
        energy = float(system.energy.item())
        max_force = float(system.forces.norm(dim=1).max().item())
        return make_result(
            final, initial, item.steps, stop, energy, max_force, self.settings, item.compute_s
        )

    def _sequential(self, index: int) -> None:
        """Relax one structure with the ASE loop after the batched path failed."""
        self.finish(index, relax_structure(self.structures[index], self.potential, self.settings))


def _max_per_system(values: torch.Tensor, system_idx: torch.Tensor, n_systems: int) -> np.ndarray:
    out = torch.full((n_systems,), -torch.inf, dtype=values.dtype, device=values.device)
    out = out.scatter_reduce(0, system_idx, values.nan_to_num(nan=torch.inf), reduce="amax")
    return out.detach().cpu().numpy()


# Default atoms per batch. On CPU a batch's transient memory grows by about 8 MB per atom
# (CHGNet's graphs and autograd forces: +0.34 GB at 16 atoms, +2.5 GB at 256) while one
# thread gains no speed past a dozen or so atoms (BENCHMARKS.md, "Memory per campaign worker").
CPU_BATCH_ATOMS = 16
CUDA_BATCH_ATOMS = 4096


def batch_capacity(potential: Potential, batch_atoms: int | None = None) -> int:
    """Most atoms per batch: ``batch_atoms`` or a default that suits the device."""
    default = CUDA_BATCH_ATOMS if potential.device.startswith("cuda") else CPU_BATCH_ATOMS
    return batch_atoms or default


def chunk_by_atoms(sizes: Sequence[int], capacity: int) -> list[list[int]]:
    """Consecutive index groups whose atom counts sum to at most ``capacity`` (a larger
    single structure gets a group of its own)."""
    chunks: list[list[int]] = [[]]
    total = 0
    for index, size in enumerate(sizes):
        if chunks[-1] and total + size > capacity:
            chunks.append([])
            total = 0
        chunks[-1].append(index)
        total += size
    return [chunk for chunk in chunks if chunk]


def torch_sim_energies(structures: Sequence[Structure], model: ModelInterface) -> np.ndarray:
    """Total energies (eV) of ``structures`` in one forward pass of a torch-sim ``model``
    (from :func:`relax.torchsim_models.batched_model` with ``forces=False``)."""
    state = ts.initialize_state(list(structures), model.device, model.dtype)
    return model(state)["energy"].detach().cpu().double().numpy()
