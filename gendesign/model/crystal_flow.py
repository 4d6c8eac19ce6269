"""The second-generation generator (``crystalflow``) and its checkpoint.

:class:`CrystalFlow` holds the two stages: the chemistry VAE (z → stoichiometry →
lattice, trained on every crystal with a composition) and the periodic coordinate
flow (trained on the crystals with positions). The checkpoint is a plain
``torch.save`` dict, loadable without Lightning: both stages' configs and
weights, the shared element vocabulary, the dataset, protocol and training
summaries of each stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gendesign.errors import InputError
from gendesign.model.checkpoint import GeneratorRecord
from gendesign.model.chemistry import ChemistryVAE
from gendesign.model.flow_config import FlowModelConfig
from gendesign.model.torus_flow import CoordinateFlow
from gendesign.torch_files import load_payload

FORMAT = "gendesign-crystalflow"
FORMAT_VERSION = 1


class CrystalFlow(nn.Module):
    def __init__(
        self,
        config: FlowModelConfig,
        vocabulary: list[int],
        max_atoms: int,
        property_names: list[str],
    ):
        super().__init__()
        self.config = config
        self.max_atoms = max_atoms
        self.chemistry = ChemistryVAE(config.chemistry, vocabulary, max_atoms, property_names)
        self.coordinates = CoordinateFlow(config.coordinates, len(vocabulary))

    # What latent steering (gendesign.model.steering) needs of a model.
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


@dataclass
class CrystalFlowCheckpoint(GeneratorRecord):
    """``training_config`` holds ``chemistry``, ``coordinates`` (each stage's training
    config) and ``sampling`` (the sampler's defaults); ``metrics`` one entry per stage."""

    model: CrystalFlow | None = None

    def save(self, path: str | Path) -> Path:
        model = self.model
        return self.write(
            path,
            FORMAT,
            FORMAT_VERSION,
            {
                "model_config": model.config.model_dump(),
                "vocabulary": model.atomic_numbers.tolist(),
                "max_atoms": model.max_atoms,
                "property_names": model.property_names,
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            },
        )

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> CrystalFlowCheckpoint:
        payload = load_payload(path, "generative model checkpoint")
        return cls.from_payload(payload, path, device)

    @classmethod
    def from_payload(cls, payload: dict, path, device: str = "cpu") -> CrystalFlowCheckpoint:
        cls.check(payload, path, FORMAT, FORMAT_VERSION, "gendesign crystalflow checkpoint")
        try:
            model = CrystalFlow(
                FlowModelConfig.model_validate(payload["model_config"]),
                payload["vocabulary"],
                payload["max_atoms"],
                payload["property_names"],
            )
            model.load_state_dict(payload["state_dict"])
        except Exception as err:
            raise InputError(f"{path}: checkpoint does not match this model code ({err})") from None
        return cls(model=model.to(device).eval(), **cls.fields(payload))
