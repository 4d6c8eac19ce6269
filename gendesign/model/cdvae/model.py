"""The CDVAE-style model as plain modules: encoder → latent z → heads and score decoder.

- :class:`CrystalEncoder`: periodic GNN → μ, log σ² of a diagonal Gaussian over z.
- :class:`LatentHeads`: from z, the number of atoms (classes 1..max_atoms), the
  lattice (lengths / n^(1/3) and angles, standardised), the composition (a
  distribution over the vocabulary) and the steering properties (standardised).
- :class:`~gendesign.model.cdvae.score_decoder.ScoreNetwork`: denoises coordinates and elements.

:meth:`CDVAE.losses` is the training objective; sampling lives in
:mod:`gendesign.model.cdvae.sampling`. Lengths in Å, angles in degrees.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from gendesign.data.lattice import cell_angles, matrix_from_params
from gendesign.model.cdvae.config import ModelConfig
from gendesign.model.cdvae.noise import add_coordinate_noise, geometric_levels
from gendesign.model.cdvae.score_decoder import ScoreNetwork
from gendesign.nn.blocks import CrystalGraphNetwork, CrystalGraphNetworkConfig, mlp
from gendesign.nn.checkpoint import upgrade_version_1

# Buffers the constructor takes as arguments (the training split's standardisation).
_SCALING_BUFFERS = ("lattice_mean", "lattice_std", "property_mean", "property_std")


class CrystalEncoder(nn.Module):
    """Crystal → (μ, log σ²) of its latent, each (B, latent_dim)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        e = config.encoder
        self.network = CrystalGraphNetwork(
            0,
            CrystalGraphNetworkConfig(
                hidden_channels=e.hidden_channels,
                num_layers=e.num_layers,
                cutoff=e.cutoff,
                max_neighbors=e.max_neighbors,
                num_gaussians=e.num_gaussians,
            ),
        )
        self.mean = nn.Linear(e.hidden_channels, config.latent_dim)
        self.log_variance = nn.Linear(e.hidden_channels, config.latent_dim)

    def forward(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.network.crystal_features(batch)
        # Bounded so an untrained encoder (e.g. in Lightning's sanity check) cannot
        # overflow exp(log σ²); e² is already wider than the prior.
        return self.mean(features), self.log_variance(features).clamp(-10.0, 2.0)


class LatentHeads(nn.Module):
    """z → number-of-atoms logits, scaled lattice, composition logits, properties."""

    def __init__(self, config: ModelConfig, max_atoms: int, num_elements: int, num_properties: int):
        super().__init__()

        def head(outputs: int) -> nn.Sequential:
            return mlp(config.latent_dim, config.head_hidden, outputs, config.head_layers + 1)

        self.num_atoms = head(max_atoms + 1)  # class k = k atoms; class 0 is never a target
        self.lattice = head(6)
        self.composition = head(num_elements)
        self.properties = head(num_properties) if num_properties else None

    def property_values(self, z: torch.Tensor) -> torch.Tensor:
        """(B, P) standardised property predictions (P may be 0)."""
        if self.properties is None:
            return z.new_zeros((len(z), 0))
        return self.properties(z)


class CDVAE(nn.Module):
    """The whole model. Buffers hold the lattice and property standardisation, so a
    saved state dict is self-contained."""

    def __init__(
        self,
        config: ModelConfig,
        max_atoms: int,
        atomic_numbers: list[int],
        property_names: list[str],
        lattice_mean: torch.Tensor,
        lattice_std: torch.Tensor,
        property_mean: torch.Tensor,
        property_std: torch.Tensor,
    ):
        super().__init__()
        self.config = config
        self.max_atoms = max_atoms
        self.num_elements = num_elements = len(atomic_numbers)
        self.property_names = list(property_names)
        self.encoder = CrystalEncoder(config)
        self.heads = LatentHeads(config, max_atoms, num_elements, len(property_names))
        self.decoder = ScoreNetwork(config.decoder, config.latent_dim, num_elements)
        noise = config.noise
        levels = (noise.coord_sigma_begin, noise.coord_sigma_end, noise.num_levels)
        self.register_buffer("coord_sigmas", geometric_levels(*levels))
        levels = (noise.type_sigma_begin, noise.type_sigma_end, noise.num_levels)
        self.register_buffer("type_sigmas", geometric_levels(*levels))
        # vocabulary: index k <-> atomic number; lookup[Z] = k (or -1 outside it)
        self.register_buffer("atomic_numbers", torch.tensor(sorted(atomic_numbers)))
        lookup = torch.full((119,), -1, dtype=torch.long)
        lookup[self.atomic_numbers] = torch.arange(num_elements)
        self.register_buffer("element_lookup", lookup)
        self.register_buffer("lattice_mean", lattice_mean.float())
        # a constant column (perov5's 90° angles) stays unscaled instead of dividing by 0
        self.register_buffer("lattice_std", _usable_std(lattice_std))
        self.register_buffer("property_mean", property_mean.float())
        self.register_buffer("property_std", _usable_std(property_std))

    # ----------------------------------------------------------------- checkpoint protocol
    family: ClassVar[str] = "cdvae"

    def checkpoint_fields(self) -> dict:
        return {
            "config": self.config.model_dump(),
            "max_atoms": self.max_atoms,
            "vocabulary": self.atomic_numbers.tolist(),
            "property_names": self.property_names,
        }

    @classmethod
    def from_checkpoint_fields(cls, fields: dict, state_dict: dict) -> CDVAE:
        return cls(
            ModelConfig.model_validate(fields["config"]),
            fields["max_atoms"],
            fields["vocabulary"],
            fields["property_names"],
            *(state_dict[name] for name in _SCALING_BUFFERS),
        )

    @classmethod
    def upgrade_payload(cls, payload: dict) -> dict | None:
        """Version 1 files (``format: gendesign-cdvae``): the vocabulary as ``atomic_numbers``."""
        names = {"config": "model_config", "max_atoms": "max_atoms", "vocabulary": "atomic_numbers",
                 "property_names": "property_names"}  # fmt: skip
        return upgrade_version_1(payload, "gendesign-cdvae", cls.family, names)

    # ----------------------------------------------------------------- lattice scaling

    def scaled_lattice(self, lengths, angles, num_atoms) -> torch.Tensor:
        """(B, 6) standardised [a, b, c] / n^(1/3) and [α, β, γ]."""
        scale = num_atoms.to(lengths.dtype).pow(1 / 3)[:, None]
        raw = torch.cat([lengths / scale, angles], dim=1)
        return (raw - self.lattice_mean) / self.lattice_std

    def lattice_matrix(self, scaled: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`scaled_lattice`, as (B, 3, 3) rows in Å; a wild prediction
        is pulled back to a cell with volume (see :func:`cell_angles`)."""
        raw = scaled * self.lattice_std + self.lattice_mean
        lengths = raw[:, :3].clamp(min=0.5) * num_atoms.to(raw.dtype).pow(1 / 3)[:, None]
        return matrix_from_params(lengths, cell_angles(raw[:, 3:]))

    # ----------------------------------------------------------------- latent

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def property_values(self, z: torch.Tensor) -> torch.Tensor:
        """(B, P) standardised property estimates of the latent head."""
        return self.heads.property_values(z)

    def encode(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(batch)

    @staticmethod
    def reparameterise(mean, log_variance, generator=None) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + noise * torch.exp(0.5 * log_variance)

    # ----------------------------------------------------------------- objective

    def element_index(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """Atomic numbers → vocabulary indices (-1 for elements outside it)."""
        return self.element_lookup[atomic_numbers]

    def losses(
        self, batch, teacher_forcing: bool, properties: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Unweighted losses of one batch (a batched CrystalGraph); ``properties`` (B, P)
        holds the steering properties in physical units, NaN where unknown."""
        element_index = self.element_index(batch.atom_types)
        mean, log_variance = self.encode(batch)
        z = self.reparameterise(mean, log_variance)
        num_atoms = batch.num_atoms
        crystals = len(num_atoms)
        losses = {
            "kl": (-0.5 * (1 + log_variance - mean**2 - log_variance.exp()).sum(1)).mean(),
            "num_atoms": F.cross_entropy(self.heads.num_atoms(z), num_atoms),
        }
        target_lattice = self.scaled_lattice(batch.lengths, batch.angles, num_atoms)
        predicted_lattice = self.heads.lattice(z)
        losses["lattice"] = F.mse_loss(predicted_lattice, target_lattice)
        composition_logits = self.heads.composition(z)
        # atoms of elements outside the vocabulary (index -1) carry no element loss
        losses["composition"] = F.cross_entropy(
            composition_logits[batch.batch], element_index, ignore_index=-1
        )
        if self.property_names and properties is not None:
            target = (properties - self.property_mean) / self.property_std
            mask = torch.isfinite(target)
            predicted = self.heads.property_values(z)
            losses["property"] = (
                F.mse_loss(predicted[mask], target[mask]) if mask.any() else predicted.sum() * 0
            )

        # Denoising: one noise level per crystal, on the true or the predicted lattice.
        lattice = (
            batch.lattice if teacher_forcing else self.lattice_matrix(predicted_lattice, num_atoms)
        )
        level = torch.randint(0, len(self.coord_sigmas), (crystals,), device=z.device)
        coord_sigma, type_sigma = self.coord_sigmas[level], self.type_sigmas[level]
        noisy_frac, displacement = add_coordinate_noise(
            batch.frac_coords, lattice, batch.batch, coord_sigma[batch.batch]
        )
        noisy_elements = self._noisy_elements(
            element_index, composition_logits.detach(), type_sigma, batch.batch
        )
        score, element_logits = self.decoder(
            z, noisy_frac, lattice, noisy_elements, num_atoms, batch.batch, coord_sigma
        )
        # score ≈ σ ∇ log p = displacement / σ (home from the noisy position)
        target_score = displacement / coord_sigma[batch.batch][:, None]
        losses["coord"] = ((score - target_score) ** 2).sum(1).mean()
        losses["type"] = F.cross_entropy(element_logits, element_index, ignore_index=-1)
        return losses

    def _noisy_elements(self, element_index, composition_logits, type_sigma, batch):
        """CDVAE's element noise: draw each atom's element from its one-hot plus σ_type
        times the predicted composition."""
        probabilities = F.one_hot(element_index, self.num_elements).float()
        probabilities = (
            probabilities + type_sigma[batch][:, None] * composition_logits.softmax(1)[batch]
        )
        return torch.multinomial(probabilities / probabilities.sum(1, keepdim=True), 1).squeeze(1)

    def weighted_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        weights = self.config.loss_weights.model_dump()
        return sum(weights[name] * value for name, value in losses.items())


def _usable_std(std: torch.Tensor) -> torch.Tensor:
    std = std.float()
    return torch.where(std > 1e-6, std, torch.ones_like(std))
