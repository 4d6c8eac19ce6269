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
# What every generative checkpoint records besides its model.
RECORD_FIELDS = ("dataset", "protocol", "dataset_hash", "units", "training_config", "metrics")


@dataclass
class GeneratorRecord:
    """The provenance every generative checkpoint carries, whatever its model family."""

    dataset: str
    protocol: str
    dataset_hash: str
    units: dict[str, str]  # property -> unit
    training_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def write(self, path: str | Path, format: str, version: int, model_fields: dict) -> Path:
        """``torch.save`` of the format tag, ``model_fields`` and the record."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {name: getattr(self, name) for name in RECORD_FIELDS}
        torch.save({"format": format, "format_version": version, **model_fields, **record}, path)
        return path

    @staticmethod
    def check(payload: dict, path, format: str, version: int, what: str) -> None:
        """One sentence when ``payload`` is not of ``format`` at ``version``."""
        if payload.get("format") != format:
            raise InputError(f"{path}: not a {what}")
        if payload.get("format_version") != version:
            raise InputError(
                f"{path}: checkpoint format version {payload.get('format_version')} is not "
                f"supported by this gendesign (expects {version})"
            )

    @staticmethod
    def fields(payload: dict) -> dict:
        return {name: payload[name] for name in RECORD_FIELDS}


@dataclass
class CDVAECheckpoint(GeneratorRecord):
    model: CDVAE | None = None

    def save(self, path: str | Path) -> Path:
        model = self.model
        return self.write(
            path,
            FORMAT,
            FORMAT_VERSION,
            {
                "model_config": model.config.model_dump(),
                "max_atoms": model.max_atoms,
                "atomic_numbers": model.atomic_numbers.tolist(),
                "property_names": model.property_names,
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            },
        )

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> CDVAECheckpoint:
        """Load a checkpoint; a missing, foreign or incompatible file gets one sentence."""
        payload = load_payload(path, "generative model checkpoint")
        return cls.from_payload(payload, path, device)

    @classmethod
    def from_payload(cls, payload: dict, path, device: str = "cpu") -> CDVAECheckpoint:
        cls.check(payload, path, FORMAT, FORMAT_VERSION, "gendesign generative model checkpoint")
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
        return cls(model=model.to(device).eval(), **cls.fields(payload))
