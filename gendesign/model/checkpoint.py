"""Generative-model checkpoints: weights plus everything needed to sample from them.

A plain ``torch.save`` dict (loading needs neither Lightning nor the training
code): the model config, the state dict (whose buffers carry the lattice and
property standardisation and the element vocabulary), the properties it can
steer, the dataset name, protocol and content hash it was trained on, the
training config and the final metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from gendesign.errors import InputError
from gendesign.model.cdvae import CDVAE
from gendesign.model.config import ModelConfig
from gendesign.torch_files import load_payload

FORMAT = "gendesign-cdvae"
FORMAT_VERSION = 1


@dataclass
class CDVAECheckpoint:
    model: CDVAE
    dataset: str
    protocol: str
    dataset_hash: str
    units: dict[str, str]  # property -> unit
    training_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        model = self.model
        torch.save(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "model_config": model.config.model_dump(),
                "max_atoms": model.max_atoms,
                "atomic_numbers": model.atomic_numbers.tolist(),
                "property_names": model.property_names,
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "dataset": self.dataset,
                "protocol": self.protocol,
                "dataset_hash": self.dataset_hash,
                "units": self.units,
                "training_config": self.training_config,
                "metrics": self.metrics,
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> CDVAECheckpoint:
        """Load a checkpoint; a missing, foreign or incompatible file gets one sentence."""
        payload = load_payload(path, "generative model checkpoint")
        if payload.get("format") != FORMAT:
            raise InputError(f"{path}: not a gendesign generative model checkpoint")
        if payload.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{path}: checkpoint format version {payload.get('format_version')} is not "
                f"supported by this gendesign (expects {FORMAT_VERSION})"
            )
        state = payload["state_dict"]
        try:
            model = CDVAE(
                ModelConfig.model_validate(payload["model_config"]),
                payload["max_atoms"],
                payload["atomic_numbers"],
                payload["property_names"],
                state["lattice_mean"],
                state["lattice_std"],
                state["property_mean"],
                state["property_std"],
            )
            model.load_state_dict(state)
        except Exception as err:  # a config or tensor shape from another version
            raise InputError(f"{path}: checkpoint does not match this model code ({err})") from None
        return cls(
            model=model.to(device).eval(),
            dataset=payload["dataset"],
            protocol=payload["protocol"],
            dataset_hash=payload["dataset_hash"],
            units=payload["units"],
            training_config=payload["training_config"],
            metrics=payload["metrics"],
        )
