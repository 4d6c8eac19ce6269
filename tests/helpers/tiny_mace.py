"""A tiny MACE model built and fitted with mace-torch itself, saved as a ``.model`` file.

No MACE foundation weights can be obtained offline, so the tests exercise the
MACE code path with this stand-in: the same class a foundation model uses
(``ScaleShiftMACE``), pickled whole the same way, loaded through the same
``MACECalculator``. It is fitted briefly to energies and forces from another
potential so that relaxing with it moves atoms sensibly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from mace.data import AtomicData, KeySpecification, config_from_atoms
from mace.modules import ScaleShiftMACE, interaction_classes
from mace.tools import AtomicNumberTable
from mace.tools.torch_geometric import DataLoader

R_MAX = 4.0  # Å


def fit_tiny_mace(labelled: list[Atoms], path: Path, steps: int = 150, seed: int = 0) -> Path:
    """Fit a one-interaction MACE (8 scalar channels) to ``labelled`` frames, whose
    ``info["REF_energy"]`` (eV) and ``arrays["REF_forces"]`` (eV/Å) are the targets."""
    from e3nn import o3  # after mace: mace's import lets e3nn 0.4 load its constants file

    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float64)
    try:
        numbers = sorted({int(z) for atoms in labelled for z in atoms.numbers})
        table = AtomicNumberTable(numbers)
        keys = KeySpecification(
            info_keys={"energy": "REF_energy"}, arrays_keys={"forces": "REF_forces"}
        )
        data = [
            AtomicData.from_config(config_from_atoms(atoms, keys), z_table=table, cutoff=R_MAX)
            for atoms in labelled
        ]
        model = ScaleShiftMACE(
            r_max=R_MAX,
            num_bessel=4,
            num_polynomial_cutoff=5,
            max_ell=1,
            interaction_cls=interaction_classes["RealAgnosticResidualInteractionBlock"],
            interaction_cls_first=interaction_classes["RealAgnosticResidualInteractionBlock"],
            num_interactions=1,
            num_elements=len(numbers),
            hidden_irreps=o3.Irreps("8x0e"),
            MLP_irreps=o3.Irreps("8x0e"),
            atomic_energies=_reference_energies(labelled, numbers),
            avg_num_neighbors=float(np.mean([d.edge_index.shape[1] / d.num_nodes for d in data])),
            atomic_numbers=numbers,
            correlation=2,
            gate=torch.nn.functional.silu,
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        loader = DataLoader(data, batch_size=len(data), shuffle=False)
        batch = next(iter(loader)).to_dict()
        for _ in range(steps):
            optimizer.zero_grad()
            out = model(batch, training=True, compute_force=True)
            atoms_per_frame = batch["ptr"][1:] - batch["ptr"][:-1]
            energy_error = (out["energy"] - batch["energy"]) / atoms_per_frame
            loss = (energy_error**2).mean() + ((out["forces"] - batch["forces"]) ** 2).mean()
            loss.backward()
            optimizer.step()
        torch.save(model, path)  # foundation models are whole pickled modules too
    finally:
        torch.set_default_dtype(torch.float32)
    return path


def _reference_energies(labelled: list[Atoms], numbers: list[int]) -> np.ndarray:
    """Per-element energies (eV) by least squares on the frames' total energies."""
    counts = np.array([[np.sum(a.numbers == z) for z in numbers] for a in labelled], dtype=float)
    energies = np.array([a.info["REF_energy"] for a in labelled])
    return np.linalg.lstsq(counts, energies, rcond=None)[0]
