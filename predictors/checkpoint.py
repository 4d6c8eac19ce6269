"""Predictor checkpoints: weights plus everything needed to use them correctly.

A checkpoint carries the network config, the targets with their units and
train-split scalers, the element vocabulary, the dataset and protocol it was
trained under, the training config and the holdout metrics. It is a plain
``torch.save`` dict, so loading needs neither Lightning nor the training code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gendesign.data.vocabulary import ElementVocabulary
from gendesign.errors import InputError
from gendesign.torch_files import load_payload
from predictors.model import CrystalGraphNetwork, CrystalGraphNetworkConfig

CHECKPOINT_FORMAT_VERSION = 1


@dataclass
class PredictorCheckpoint:
    """A trained network and the facts needed to apply it."""

    network: CrystalGraphNetwork
    targets: list[str]
    units: list[str]
    target_mean: torch.Tensor  # physical units
    target_std: torch.Tensor
    vocabulary: ElementVocabulary
    dataset: str
    protocol: str
    training_config: dict
    metrics: dict

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "format_version": CHECKPOINT_FORMAT_VERSION,
                "model_config": self.network.config.model_dump(),
                "state_dict": self.network.state_dict(),
                "targets": self.targets,
                "units": self.units,
                "target_mean": self.target_mean,
                "target_std": self.target_std,
                "vocabulary": list(self.vocabulary.atomic_numbers),
                "dataset": self.dataset,
                "protocol": self.protocol,
                "training_config": self.training_config,
                "metrics": self.metrics,
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> PredictorCheckpoint:
        """Load a checkpoint; a missing or foreign file gets one sentence naming it."""
        payload = load_payload(path, "predictor checkpoint")
        if payload.get("format_version") != CHECKPOINT_FORMAT_VERSION:
            raise InputError(
                f"{path}: not a gendesign predictor checkpoint (format {CHECKPOINT_FORMAT_VERSION} expected)"
            )
        network = CrystalGraphNetwork(
            len(payload["targets"]),
            CrystalGraphNetworkConfig.model_validate(payload["model_config"]),
        )
        network.load_state_dict(payload["state_dict"])
        network.eval()
        return cls(
            network=network,
            targets=list(payload["targets"]),
            units=list(payload["units"]),
            target_mean=payload["target_mean"],
            target_std=payload["target_std"],
            vocabulary=ElementVocabulary(payload["vocabulary"]),
            dataset=payload["dataset"],
            protocol=payload["protocol"],
            training_config=payload["training_config"],
            metrics=payload["metrics"],
        )
