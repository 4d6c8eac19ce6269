"""The chemistry stage: latent z (+ property condition) → integer stoichiometry → lattice.

- :class:`ChemistryVAE.encode`: composition counts, atom count and reduced lattice → μ, log σ².
- Composition decoder: a GRU that emits one element per step, in canonical order
  (each new element after the previous one, so a formula has one spelling), with
  its integer count, until it emits the end token. The number of distinct
  elements, which ones and how many atoms of each are therefore decided per
  crystal; the atom count is their sum.
- Lattice decoder: conditional flow matching of six standardised parameters
  (log lengths per n^(1/3) atoms, angles) from Gaussian noise, given z, the
  condition and the composition.
- Property head z → properties, for latent optimisation.

The condition is the standardised property vector with a mask; in training each
property is hidden at random (``condition_dropout``) so the same network gives
the unconditional distribution and classifier-free guidance works at sampling.
Vocabulary indices follow canonical formula order (see
:func:`gendesign.data.chemistry_table.element_order_key`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from gendesign.model.crystalflow.config import ChemistryConfig
from gendesign.nn.blocks import mlp

LABEL_BANK_SIZE = 8192


def sinusoidal(t: torch.Tensor, dim: int = 32) -> torch.Tensor:
    """(B,) times in [0, 1] → (B, dim) sin/cos features."""
    frequencies = torch.exp(torch.linspace(0, math.log(1000.0), dim // 2, device=t.device))
    angles = t[:, None] * frequencies[None, :]
    return torch.cat([angles.sin(), angles.cos()], 1)


@dataclass
class CompositionBatch:
    """Padded stoichiometries: slot k of crystal b is vocabulary index ``species[b, k]``
    (``-1`` past the end) with ``counts[b, k]`` atoms."""

    species: torch.Tensor  # (B, K) long
    counts: torch.Tensor  # (B, K) long

    @property
    def num_atoms(self) -> torch.Tensor:
        return self.counts.clamp(min=0).sum(1)

    @property
    def present(self) -> torch.Tensor:
        return self.species >= 0


class ChemistryVAE(nn.Module):
    def __init__(
        self,
        config: ChemistryConfig,
        atomic_numbers: list[int],
        max_atoms: int,
        property_names: list[str],
    ):
        super().__init__()
        self.config = config
        self.max_atoms = max_atoms
        self.property_names = list(property_names)
        vocabulary, hidden, latent = len(atomic_numbers), config.hidden, config.latent_dim
        self.num_elements = vocabulary
        properties = len(property_names)
        self.encoder = mlp(vocabulary + max_atoms + 1 + 6, hidden, 2 * latent, 3)
        self.condition = mlp(2 * properties, hidden, hidden, 2) if properties else None
        self.context = mlp(latent + hidden, hidden, hidden, 2)
        # composition decoder
        self.start_token = vocabulary + 1  # input token of the first step
        self.element_embedding = nn.Embedding(vocabulary + 2, hidden)  # + end, start
        self.count_embedding = nn.Embedding(max_atoms + 1, hidden)
        self.cell = nn.GRUCell(2 * hidden + 1, hidden)
        self.element_head = nn.Linear(hidden, vocabulary + 1)  # last class: end
        self.count_head = mlp(2 * hidden, hidden, max_atoms, 2)  # class c: c + 1 atoms
        # lattice decoder (flow) and property head
        self.composition_summary = mlp(hidden + max_atoms + 1, hidden, hidden, 2)
        self.lattice_field = mlp(6 + 32 + 2 * hidden, hidden, 6, config.lattice_flow_layers + 1)
        self.property_head = mlp(latent, hidden, properties, 3) if properties else None
        self.register_buffer("atomic_numbers", torch.tensor(atomic_numbers, dtype=torch.long))
        lookup = torch.full((119,), -1, dtype=torch.long)
        lookup[self.atomic_numbers] = torch.arange(vocabulary)
        self.register_buffer("element_lookup", lookup)
        self.register_buffer("lattice_mean", torch.zeros(6))
        self.register_buffer("lattice_std", torch.ones(6))
        self.register_buffer("property_mean", torch.zeros(properties))
        self.register_buffer("property_std", torch.ones(properties))
        # training labels (physical units; NaN rows unused), so that sampling can draw
        # conditions that lie on the data
        self.register_buffer("label_bank", torch.full((LABEL_BANK_SIZE, properties), math.nan))

    # ------------------------------------------------------------------ scaling

    def lattice_features(self, lengths, angles, num_atoms) -> torch.Tensor:
        """(B, 6) standardised [log(a, b, c / n^(1/3)), α, β, γ]; lengths Å, angles degrees."""
        scale = num_atoms.to(lengths.dtype).pow(1 / 3)[:, None]
        raw = torch.cat([torch.log(lengths / scale), angles], 1)
        return ((raw - self.lattice_mean) / self.lattice_std).float()

    def lattice_params(self, features, num_atoms) -> tuple[torch.Tensor, torch.Tensor]:
        """Inverse of :meth:`lattice_features`: lengths (B, 3) Å, angles (B, 3) degrees."""
        raw = features.double() * self.lattice_std.double() + self.lattice_mean.double()
        scale = num_atoms.double().pow(1 / 3)[:, None]
        return torch.exp(raw[:, :3].clamp(-3, 3)) * scale, raw[:, 3:]

    def standardise(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.property_mean) / self.property_std

    # ------------------------------------------------------------------ pieces

    def encode(self, composition: CompositionBatch, lattice: torch.Tensor):
        """(μ, log σ²), each (B, latent_dim), of compositions and lattice features."""
        batch = len(composition.species)
        counts = torch.zeros((batch, self.num_elements), device=lattice.device)
        present = composition.present
        rows = torch.arange(batch, device=lattice.device)[:, None].expand_as(present)
        counts[rows[present], composition.species[present]] = composition.counts[present].float()
        atoms = F.one_hot(composition.num_atoms.clamp(max=self.max_atoms), self.max_atoms + 1)
        mean, log_variance = self.encoder(
            torch.cat([counts / self.max_atoms, atoms.float(), lattice], 1)
        ).chunk(2, 1)
        return mean, log_variance.clamp(-10.0, 4.0)

    def condition_features(self, values: torch.Tensor | None, batch: int, device) -> torch.Tensor:
        """(B, hidden) embedding of standardised property ``values`` (NaN = not given)."""
        hidden = self.config.hidden
        if self.condition is None:
            return torch.zeros((batch, hidden), device=device)
        if values is None:
            values = torch.full((batch, len(self.property_names)), math.nan, device=device)
        given = torch.isfinite(values)
        return self.condition(torch.cat([torch.nan_to_num(values) * given, given.float()], 1))

    def step(self, state, previous_species, previous_count, atoms_so_far):
        """One GRU step → (state, element logits (B, V + 1))."""
        inputs = torch.cat(
            [
                self.element_embedding(previous_species),
                self.count_embedding(previous_count),
                atoms_so_far[:, None].float() / self.max_atoms,
            ],
            1,
        )
        state = self.cell(inputs, state)
        return state, self.element_head(state)

    def count_logits(self, state, species) -> torch.Tensor:
        return self.count_head(torch.cat([state, self.element_embedding(species)], 1))

    def summary(self, composition: CompositionBatch) -> torch.Tensor:
        """(B, hidden) order-free summary of a composition, for the lattice decoder."""
        present = composition.present
        species = composition.species.clamp(min=0)
        fraction = composition.counts.float() / composition.num_atoms[:, None].float()
        pooled = (self.element_embedding(species) * (fraction * present)[..., None]).sum(1)
        atoms = F.one_hot(composition.num_atoms.clamp(max=self.max_atoms), self.max_atoms + 1)
        return self.composition_summary(torch.cat([pooled, atoms.float()], 1))

    def lattice_velocity(self, x, t, context, summary) -> torch.Tensor:
        return self.lattice_field(torch.cat([x, sinusoidal(t), context, summary], 1))

    def property_values(self, z: torch.Tensor) -> torch.Tensor:
        """(B, P) standardised property estimates from z (P may be 0)."""
        if self.property_head is None:
            return z.new_zeros((len(z), 0))
        return self.property_head(z)

    # ------------------------------------------------------------------ objective

    def losses(
        self, composition: CompositionBatch, lattice: torch.Tensor, properties: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Unweighted losses; ``lattice`` (B, 6) standardised features, ``properties``
        (B, P) physical units with NaN where unknown."""
        batch, device = len(lattice), lattice.device
        mean, log_variance = self.encode(composition, lattice)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_variance)
        kl = (-0.5 * (1 + log_variance - mean**2 - log_variance.exp()).sum(1)).mean()
        target = self.standardise(properties.float())
        hidden = torch.rand(target.shape, device=device) < self.config.condition_dropout
        condition = self.condition_features(target.masked_fill(hidden, math.nan), batch, device)
        context = self.context(torch.cat([z, condition], 1))

        # composition: teacher forcing over the slots, then the end token
        species, counts = composition.species, composition.counts
        slots = species.shape[1]
        state = context
        previous = torch.full((batch,), self.start_token, device=device, dtype=torch.long)
        previous_count = torch.zeros(batch, device=device, dtype=torch.long)
        so_far = torch.zeros(batch, device=device, dtype=torch.long)
        end = torch.full((batch,), self.num_elements, device=device, dtype=torch.long)
        element_terms, count_terms, active_total, element_total = [], [], 0, 0
        for k in range(slots + 1):
            active = composition.present[:, k - 1] if k > 0 else torch.ones_like(so_far).bool()
            state, logits = self.step(state, previous, previous_count, so_far)
            truth = species[:, k] if k < slots else end
            truth = torch.where(truth >= 0, truth, end)
            element_terms.append(F.cross_entropy(logits, truth, reduction="none") * active)
            element_total = element_total + active.sum()
            if k < slots:
                here = composition.present[:, k]
                count_target = (counts[:, k] - 1).clamp(min=0)
                count_terms.append(
                    F.cross_entropy(
                        self.count_logits(state, truth.clamp(max=self.num_elements - 1)),
                        count_target.clamp(max=self.max_atoms - 1),
                        reduction="none",
                    )
                    * here
                )
                active_total = active_total + here.sum()
                previous = torch.where(here, species[:, k], end)
                previous_count = torch.where(here, counts[:, k], 0).clamp(max=self.max_atoms)
                so_far = so_far + torch.where(here, counts[:, k], 0)
        # per crystal: summed over its tokens, averaged over crystals
        losses = {
            "elements": torch.stack(element_terms).sum() / batch,
            "counts": torch.stack(count_terms).sum() / batch,
            "kl": kl,
        }
        # lattice: flow matching from N(0, I) to the standardised parameters
        noise = torch.randn_like(lattice)
        t = torch.rand(batch, device=device)
        x_t = (1 - t[:, None]) * noise + t[:, None] * lattice
        velocity = self.lattice_velocity(x_t, t, context, self.summary(composition))
        losses["lattice"] = F.mse_loss(velocity, lattice - noise)
        if self.property_head is not None:
            finite = torch.isfinite(target)
            predicted = self.property_values(z)
            losses["property"] = (
                F.mse_loss(predicted[finite], target[finite]) if finite.any() else kl * 0
            )
        return losses

    def weighted_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        weights = {
            "kl": self.config.kl_weight,
            "lattice": self.config.lattice_weight,
            "property": self.config.property_weight,
        }
        return sum(weights.get(name, 1.0) * value for name, value in losses.items())
