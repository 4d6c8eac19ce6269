"""Batched torch models for torch-sim: one forward pass evaluates many crystals.

torch-sim ships a MACE wrapper (``torch_sim.models.mace.MaceModel``); CHGNet and
matgl's potentials get small adapters here. Both take a torch-sim ``SimState`` holding several systems
and return per-system energies (eV), per-atom forces (eV/Å) and per-system
stresses (eV/Å³, ASE's sign convention), which is what torch-sim's optimizers need.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from ase import units
from pymatgen.core import Lattice, Structure
from torch_sim.models.interface import ModelInterface
from torch_sim.state import SimState

from relax.potentials import Potential


def batched_model(potential: Potential, forces: bool = True) -> ModelInterface:
    """The torch-sim model of ``potential`` (MACE: torch-sim's wrapper; CHGNet, matgl and
    plug-in ASE calculators: ours). ``forces=False`` computes energies only (no forces, no
    stress), for single points."""
    if potential.kind == "chgnet":
        return ChgnetBatchModel(potential.model, device=potential.device, forces=forces)
    if potential.kind == "matgl":
        return MatglBatchModel(potential.model, device=potential.device, forces=forces)
    if potential.kind == "plugin":
        return AseCalculatorModel(potential.calculator, device=potential.device, forces=forces)
    from torch_sim.models.mace import MaceModel

    return MaceModel(
        potential.model,
        device=torch.device(potential.device),
        dtype=potential.dtype,
        compute_forces=forces,
        compute_stress=forces,
    )


class _StructureGraphModel(ModelInterface):
    """What the adapters below share: float32 weights, graphs built from pymatgen
    structures on each call, forces and stresses together or not at all."""

    def __init__(self, device: str, forces: bool) -> None:
        super().__init__()
        self._device = torch.device(device)
        self._dtype = torch.float32  # CHGNet's and matgl's weights are float32
        self._compute_forces = forces
        self._compute_stress = forces
        self._memory_scales_with = "n_atoms_x_density"


class ChgnetBatchModel(_StructureGraphModel):
    """CHGNet evaluated on all systems of a ``SimState`` in one batched graph.

    CHGNet builds its own crystal graphs (bonds and angles) from pymatgen
    structures, so positions leave torch once per call; its forward pass, where the
    time goes, is batched.
    """

    def __init__(self, chgnet, device: str = "cpu", forces: bool = True) -> None:
        super().__init__(device, forces)
        self.chgnet = chgnet.to(device).eval()

    def forward(self, state: SimState, **_) -> dict[str, torch.Tensor]:
        structures = [
            _as_structure(cell, positions, numbers) for cell, positions, numbers in _systems(state)
        ]
        graphs = [self.chgnet.graph_converter(s).to(self._device) for s in structures]
        with warnings.catch_warnings(), torch.set_grad_enabled(self._compute_forces):
            # (energies alone keep no autograd graph: a fraction of the memory)
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
            prediction = self.chgnet(graphs, task="efs" if self._compute_forces else "e")
        n_atoms = state.n_atoms_per_system.to(self._device)
        # CHGNet predicts eV/atom; torch-sim wants each system's total energy
        output = {"energy": prediction["e"].detach().to(self._dtype) * n_atoms}
        if self._compute_forces:
            output["forces"] = torch.cat([f.detach() for f in prediction["f"]]).to(self._dtype)
            stress_gpa = torch.stack([s.detach() for s in prediction["s"]]).to(self._dtype)
            output["stress"] = stress_gpa * units.GPa
        return output


class MatglBatchModel(_StructureGraphModel):
    """A matgl ``Potential`` evaluated on all systems of a ``SimState`` as one PyG batch.

    matgl builds its graphs from pymatgen structures (its neighbour list), so positions
    leave torch once per call; the forward pass and the autograd forces and stresses are
    batched. matgl returns stresses in GPa with ASE's sign.
    """

    def __init__(self, potential, device: str = "cpu", forces: bool = True) -> None:
        super().__init__(device, forces)
        from matgl.ext.pymatgen import Structure2Graph

        self.potential = potential.to(device).eval()
        self.potential.calc_forces = forces
        self.potential.calc_stresses = forces
        self._converter = Structure2Graph(
            element_types=potential.model.element_types, cutoff=potential.model.cutoff
        )

    def forward(self, state: SimState, **_) -> dict[str, torch.Tensor]:
        from torch_geometric.data import Batch

        graphs, lattices = [], []
        for cell, positions, numbers in _systems(state):
            graph, lattice, _ = self._converter.get_graph(_as_structure(cell, positions, numbers))
            graphs.append(graph)
            lattices.append(lattice.reshape(1, 3, 3))
        batch = Batch.from_data_list(graphs).to(self._device)
        lattice = torch.cat(lattices).to(self._device, torch.float32)
        with torch.set_grad_enabled(self._compute_forces):
            energy, forces, stress, _ = self.potential(batch, lattice)
        output = {"energy": energy.detach().reshape(-1).to(self._dtype)}
        if self._compute_forces:
            output["forces"] = forces.detach().to(self._dtype)
            output["stress"] = stress.detach().reshape(-1, 3, 3).to(self._dtype) * units.GPa
        return output


class AseCalculatorModel(ModelInterface):
    """Any ASE calculator behind torch-sim's interface: the systems of a batch are
    evaluated one after another (a plug-in potential gains torch-sim's batched FIRE and
    cell filter, not a batched forward pass)."""

    def __init__(self, calculator, device: str = "cpu", forces: bool = True) -> None:
        super().__init__()
        self.calculator = calculator
        self._device = torch.device(device)
        self._dtype = torch.float64
        self._compute_forces = forces
        self._compute_stress = forces
        self._memory_scales_with = "n_atoms"

    def forward(self, state: SimState, **_) -> dict[str, torch.Tensor]:
        from ase import Atoms

        energies, forces, stresses = [], [], []
        for cell, positions, numbers in _systems(state):
            atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
            atoms.calc = self.calculator
            energies.append(float(atoms.get_potential_energy()))
            if self._compute_forces:
                forces.append(atoms.get_forces())
                stresses.append(atoms.get_stress(voigt=False))  # eV/Å³, ASE's sign
        as_tensor = lambda values: torch.as_tensor(  # noqa: E731
            np.asarray(values), dtype=self._dtype, device=self._device
        )
        output = {"energy": as_tensor(energies)}
        if self._compute_forces:
            output["forces"] = as_tensor(np.concatenate(forces))
            output["stress"] = as_tensor(np.stack(stresses))
        return output


def _systems(state: SimState):
    """(row-vector cell, Cartesian positions, atomic numbers) per system, as numpy."""
    cells = state.row_vector_cell.detach().cpu().numpy()
    positions = state.positions.detach().cpu().numpy()
    numbers = state.atomic_numbers.cpu().numpy()
    system = state.system_idx.cpu().numpy()
    for k, cell in enumerate(cells):
        mask = system == k
        yield cell, positions[mask], numbers[mask]


def _as_structure(cell, positions, numbers) -> Structure:
    return Structure(Lattice(cell), numbers.tolist(), positions, coords_are_cartesian=True)
