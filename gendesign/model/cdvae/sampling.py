"""Decoding latents into crystals by annealed Langevin dynamics (CDVAE's sampler).

From z the heads give the number of atoms (argmax over the allowed counts), the
lattice and a composition from which the starting elements are drawn; atoms
start at uniform random fractional positions. On each noise level σ (largest
first) the positions take ``steps_per_level`` Langevin steps

    x ← x + ε s(x)/σ + √(2ε) ξ,     ε = step_lr · (σ / σ_min)²

with the score network's output s, and the elements follow the decoder's argmax.
All randomness comes from one ``torch.Generator``, so a seed fixes the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from pymatgen.core import Lattice, Structure

from gendesign.model.cdvae.config import SamplingConfig
from gendesign.model.cdvae.model import CDVAE
from gendesign.model.cdvae.noise import geometric_levels, to_cartesian, to_fractional
from gendesign.model.common.constraints import Constraints


@dataclass
class DecodedCrystals:
    """A batch of decoded crystals as tensors (lattice rows in Å)."""

    num_atoms: torch.Tensor  # (B,)
    lattice: torch.Tensor  # (B, 3, 3)
    frac_coords: torch.Tensor  # (N, 3) in [0, 1)
    atomic_numbers: torch.Tensor  # (N,)

    def structures(self) -> list[Structure]:
        out, start = [], 0
        lattice = self.lattice.double().cpu().numpy()
        frac = self.frac_coords.double().cpu().numpy()
        numbers = self.atomic_numbers.cpu().tolist()
        for k, n in enumerate(self.num_atoms.tolist()):
            out.append(
                Structure(Lattice(lattice[k]), numbers[start : start + n], frac[start : start + n])
            )
            start += n
        return out


def noise_ladder(model: CDVAE, settings: SamplingConfig) -> torch.Tensor:
    """Coordinate σ (Å) per level: the model's own, or ``settings.levels`` geometric
    levels over the same span (a coarser, faster schedule)."""
    sigmas = model.coord_sigmas
    if settings.levels is None or settings.levels == len(sigmas):
        return sigmas
    ladder = geometric_levels(float(sigmas[0]), float(sigmas[-1]), settings.levels)
    return ladder.to(sigmas.device)


@torch.inference_mode()
def decode(
    model: CDVAE,
    z: torch.Tensor,
    settings: SamplingConfig,
    constraints: Constraints | None = None,
    generator: torch.Generator | None = None,
    progress: Callable[[int], None] | None = None,
) -> DecodedCrystals:
    """Crystals for latents ``z`` (B, latent_dim); element and atom-count constraints are
    enforced by masking. ``progress`` is called with 1 after each noise level."""
    constraints = constraints or Constraints()
    device = z.device
    atoms_mask = constraints.atoms_mask(model.max_atoms, device)
    element_mask = constraints.element_mask(model.atomic_numbers)

    num_atoms = model.heads.num_atoms(z).masked_fill(~atoms_mask, -math.inf).argmax(1)
    lattice = model.lattice_matrix(model.heads.lattice(z), num_atoms)
    composition = model.heads.composition(z).masked_fill(~element_mask, -math.inf).softmax(1)
    batch = torch.repeat_interleave(torch.arange(len(z), device=device), num_atoms)
    elements = torch.multinomial(composition[batch], 1, generator=generator).squeeze(1)
    frac = torch.rand((len(batch), 3), generator=generator, device=device)

    coord_sigmas = noise_ladder(model, settings)
    sigma_min = coord_sigmas[-1]
    for sigma in coord_sigmas:
        step = settings.step_lr * (sigma / sigma_min) ** 2
        sigma_per_crystal = sigma.expand(len(z))
        for _ in range(settings.steps_per_level):
            score, logits = model.decoder(
                z, frac, lattice, elements, num_atoms, batch, sigma_per_crystal
            )
            elements = logits.masked_fill(~element_mask, -math.inf).argmax(1)
            noise = torch.randn(frac.shape, generator=generator, device=device)
            cart = (
                to_cartesian(frac, lattice, batch)
                + step * score / sigma
                + torch.sqrt(2 * step) * noise
            )
            frac = to_fractional(cart, lattice, batch) % 1.0
        if progress:
            progress(1)
    return DecodedCrystals(num_atoms, lattice, frac, model.atomic_numbers[elements])
