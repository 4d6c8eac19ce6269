"""The trained property predictor: a crystal graph network and its target scaling.

:class:`PropertyModel` is what a predictor checkpoint holds (family
``"predictor"`` of :mod:`gendesign.nn.checkpoint`): the network, the targets with
their units, the train split's mean and standard deviation of each target (as
buffers, so the state dict is self-contained) and the element vocabulary it saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from gendesign.data.vocabulary import ElementVocabulary
from gendesign.nn.blocks import CrystalGraphNetwork, CrystalGraphNetworkConfig
from gendesign.nn.checkpoint import Checkpoint, legacy_record


class PropertyModel(nn.Module):
    """Crystal → each target in its physical units."""

    family: ClassVar[str] = "predictor"

    def __init__(
        self,
        network: CrystalGraphNetwork,
        targets: list[str],
        units: list[str],
        target_mean: torch.Tensor,
        target_std: torch.Tensor,
        vocabulary: ElementVocabulary,
    ):
        super().__init__()
        self.network = network
        self.targets = list(targets)
        self.units = list(units)
        self.vocabulary = vocabulary
        self.register_buffer("target_mean", torch.as_tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.as_tensor(target_std, dtype=torch.float32))

    def forward(self, batch) -> torch.Tensor:
        """(crystals, targets) predictions in physical units."""
        return self.network(batch) * self.target_std + self.target_mean

    # ------------------------------------------------------------ checkpoint protocol
    def checkpoint_fields(self) -> dict:
        return {
            "config": self.network.config.model_dump(),
            "targets": self.targets,
            "units": self.units,
            "vocabulary": list(self.vocabulary.atomic_numbers),
        }

    @classmethod
    def from_checkpoint_fields(cls, fields: dict, state_dict: dict) -> PropertyModel:
        network = CrystalGraphNetwork(
            len(fields["targets"]), CrystalGraphNetworkConfig.model_validate(fields["config"])
        )
        size = len(fields["targets"])
        return cls(
            network,
            fields["targets"],
            fields["units"],
            torch.zeros(size),
            torch.ones(size),
            ElementVocabulary(fields["vocabulary"]),
        )

    @classmethod
    def upgrade_payload(cls, payload: dict) -> dict | None:
        """Version 1 predictor files: no format tag, the network's state dict alone and
        the target scaling beside it."""
        if "format" in payload or "targets" not in payload:
            return None
        if payload.get("format_version") != 1:
            return {"format_version": payload.get("format_version")}
        state = {f"network.{k}": v for k, v in payload["state_dict"].items()}
        state["target_mean"] = payload["target_mean"]
        state["target_std"] = payload["target_std"]
        fields = {
            "config": payload["model_config"],
            "targets": payload["targets"],
            "units": payload["units"],
            "vocabulary": payload["vocabulary"],
        }
        record = legacy_record(
            payload, units=dict(zip(payload["targets"], payload["units"], strict=True))
        )
        return {"family": cls.family, "model": fields, "state_dict": state, **record}


PredictorCheckpoint = Checkpoint[PropertyModel]


def load_predictor_checkpoint(path: str | Path) -> PredictorCheckpoint:
    """A predictor checkpoint; a missing or foreign file gets one sentence naming it."""
    return Checkpoint.load(path, [PropertyModel], "predictor checkpoint")
