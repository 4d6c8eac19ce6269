"""Fine-tuning a crystalflow model on a handful of crystals a campaign found, each weighted.

Both stages learn from the same crystals in one loop: the chemistry VAE from their
compositions, relaxed lattices and properties (NaN where unknown), the coordinate flow
from their relaxed positions (positions the MP-20 train split lacks). Each step's
batch is drawn with probability proportional to the crystal's weight (a campaign
gives stable, in-range finds the most), which is the weighted loss in expectation
without changing the loss code. A small learning rate and few steps move the model
toward its finds without forgetting the rest of chemistry; the campaign report's
unique share per round shows a collapse if one happens.

Deterministic for a given seed on one device: all noise comes from a forked,
seeded torch RNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pymatgen.core import Structure

from gendesign.data.lattice import params_from_matrix
from gendesign.model.crystalflow.model import CrystalFlow
from gendesign.model.crystalflow.sampling import composition_batch
from gendesign.model.crystalflow.torus_flow import flow_matching_loss, lattice_invariants


@dataclass(frozen=True)
class FineTuneResult:
    """How fine-tuning went: crystals, steps and the mean loss of the first and last tenth."""

    crystals: int
    steps: int
    loss_start: float
    loss_end: float


def fine_tune(
    model: CrystalFlow,
    structures: list[Structure],
    weights: list[float],
    properties: torch.Tensor,
    steps: int = 100,
    batch_size: int = 16,
    learning_rate: float = 1e-4,
    seed: int = 0,
) -> FineTuneResult:
    """Fine-tune ``model`` in place on ``structures`` (relaxed, with positions), drawn
    with probability ∝ ``weights``; ``properties`` (N, P) in physical units, columns in
    ``model.property_names`` order, NaN where unknown."""
    if not structures:
        raise ValueError("fine-tuning needs at least one crystal")
    device = model.atomic_numbers.device
    composition = composition_batch(model, [s.composition for s in structures])
    matrices = torch.tensor([s.lattice.matrix for s in structures], dtype=torch.float64)
    lengths, angles = params_from_matrix(matrices)
    num_atoms = composition.num_atoms.cpu()
    chemistry_lattice = model.chemistry.lattice_features(lengths, angles, num_atoms).to(device)
    flow_lattice = lattice_invariants(lengths, angles, num_atoms).to(device)
    lookup = {int(z): k for k, z in enumerate(model.atomic_numbers.tolist())}
    frac = [torch.tensor(s.frac_coords % 1.0, dtype=torch.float32) for s in structures]
    species = [torch.tensor([lookup[site.specie.Z] for site in s]) for s in structures]
    probabilities = torch.tensor(weights, dtype=torch.float64)
    properties = properties.to(device)

    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    losses: list[float] = []
    threads = torch.get_num_threads()
    # one thread: CPU scatter sums over several threads differ in the last bits from run
    # to run, and fine-tuning must give the same model for the same seed (resumed rounds)
    torch.set_num_threads(1)
    model.train()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            draw = torch.Generator().manual_seed(seed)
            for _ in range(steps):
                index = torch.multinomial(
                    probabilities, batch_size, replacement=True, generator=draw
                )
                loss = _loss(
                    model, composition, chemistry_lattice, flow_lattice, frac, species,
                    properties, index.tolist(),
                )  # fmt: skip
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
    finally:
        model.eval()
        torch.set_num_threads(threads)
    tenth = max(1, steps // 10)
    return FineTuneResult(
        crystals=len(structures),
        steps=steps,
        loss_start=sum(losses[:tenth]) / tenth,
        loss_end=sum(losses[-tenth:]) / tenth,
    )


def _loss(model, composition, chemistry_lattice, flow_lattice, frac, species, properties, index):
    """Both stages' training losses on the crystals at ``index`` (repeats allowed)."""
    device = chemistry_lattice.device
    i = torch.tensor(index, device=device)
    batch = type(composition)(composition.species[i], composition.counts[i])
    chemistry = model.chemistry.weighted_loss(
        model.chemistry.losses(batch, chemistry_lattice[i], properties[i])
    )
    coordinates = flow_matching_loss(
        model.coordinates,
        torch.cat([frac[k] for k in index]).to(device),
        torch.cat([species[k] for k in index]).to(device),
        flow_lattice[i],
        batch.num_atoms,
    )
    return chemistry + coordinates
