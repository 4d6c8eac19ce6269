"""The second-generation generator (``crystalflow``).

:class:`CrystalFlow` holds the two stages: the chemistry VAE (z → stoichiometry →
lattice, trained on every crystal with a composition) and the periodic coordinate
flow (trained on the crystals with positions), and the space-group templates of
the coordinate stage's training crystals (:mod:`gendesign.model.crystalflow.spacegroup_templates`). Its checkpoint (family
``crystalflow`` of :mod:`gendesign.nn.checkpoint`) holds both stages' configs and
weights, the shared element vocabulary, the template library, and the training
summary of each stage. A checkpoint without templates still loads and samples
every cell free.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from gendesign.model.crystalflow.chemistry_vae import ChemistryVAE
from gendesign.model.crystalflow.config import FlowModelConfig
from gendesign.model.crystalflow.spacegroup_templates import TemplateLibrary
from gendesign.model.crystalflow.torus_flow import CoordinateFlow
from gendesign.nn.checkpoint import upgrade_version_1


class CrystalFlow(nn.Module):
    def __init__(
        self,
        config: FlowModelConfig,
        vocabulary: list[int],
        max_atoms: int,
        property_names: list[str],
        templates: TemplateLibrary | None = None,
    ):
        super().__init__()
        self.templates = templates
        self.config = config
        self.max_atoms = max_atoms
        self.chemistry = ChemistryVAE(config.chemistry, vocabulary, max_atoms, property_names)
        self.coordinates = CoordinateFlow(config.coordinates, len(vocabulary))

    # What latent steering (gendesign.model.common.steering) needs of a model.
    @property
    def property_names(self) -> list[str]:
        return self.chemistry.property_names

    @property
    def property_mean(self) -> torch.Tensor:
        return self.chemistry.property_mean

    @property
    def property_std(self) -> torch.Tensor:
        return self.chemistry.property_std

    @property
    def atomic_numbers(self) -> torch.Tensor:
        return self.chemistry.atomic_numbers

    @property
    def latent_dim(self) -> int:
        return self.config.chemistry.latent_dim

    def property_values(self, z: torch.Tensor) -> torch.Tensor:
        return self.chemistry.property_values(z)

    # ----------------------------------------------------------------- checkpoint protocol
    family: ClassVar[str] = "crystalflow"

    def checkpoint_fields(self) -> dict:
        return {
            "config": self.config.model_dump(),
            "vocabulary": self.atomic_numbers.tolist(),
            "max_atoms": self.max_atoms,
            "property_names": self.property_names,
            "templates": self.templates.to_tensors() if self.templates else None,
        }

    @classmethod
    def from_checkpoint_fields(cls, fields: dict, state_dict: dict) -> CrystalFlow:
        config = FlowModelConfig.model_validate(fields["config"])
        templates = fields.get("templates")
        return cls(
            config, fields["vocabulary"], fields["max_atoms"], fields["property_names"],
            TemplateLibrary.from_tensors(templates) if templates else None,
        )  # fmt: skip

    @classmethod
    def upgrade_payload(cls, payload: dict) -> dict | None:
        """Version 1 files (``format: gendesign-crystalflow``)."""
        names = {"config": "model_config", "max_atoms": "max_atoms", "vocabulary": "vocabulary",
                 "property_names": "property_names"}  # fmt: skip
        return upgrade_version_1(payload, "gendesign-crystalflow", cls.family, names)
