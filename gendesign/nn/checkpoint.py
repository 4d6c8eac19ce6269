"""The one checkpoint protocol of every model family (generators, predictors, ...).

A checkpoint is a plain ``torch.save`` dict, so loading needs neither Lightning
nor the training code::

    format          "gendesign-model"
    format_version  2
    family          which model class reads it ("crystalflow", "cdvae", "predictor")
    model           the family's constructor fields: its config and e.g. the element
                    vocabulary, the atom limit, the property or target names
    state_dict      the weights and buffers (standardisation lives in buffers)
    dataset, protocol, dataset_hash, units, training_config, metrics
                    the provenance: what it learned from, under which protocol, the
                    units of every property it speaks of, how it was trained and
                    how training ended

A model family is an ``nn.Module`` class with a ``family`` name and the two
methods of :class:`ModelFamily`. Files written by earlier versions of each
family (their own layouts, format version 1) are upgraded on load by the
family's ``upgrade_payload``, so old checkpoints keep working.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, Protocol, TypeVar

import torch
from torch import nn

from gendesign.errors import InputError
from gendesign.torch_files import load_payload

FORMAT = "gendesign-model"
FORMAT_VERSION = 2
RECORD_FIELDS = ("dataset", "protocol", "dataset_hash", "units", "training_config", "metrics")


class ModelFamily(Protocol):
    """What a model class offers to be saved and loaded by :class:`Checkpoint`."""

    family: ClassVar[str]

    def checkpoint_fields(self) -> dict:
        """Everything besides the weights that rebuilds this model (plain Python values)."""
        ...

    @classmethod
    def from_checkpoint_fields(cls, fields: dict, state_dict: dict) -> nn.Module:
        """A model of the right shapes for ``state_dict`` (weights are loaded afterwards)."""
        ...

    @classmethod
    def upgrade_payload(cls, payload: dict) -> dict | None:
        """A version-1 payload of this family in the current layout, or None if it is not one."""
        ...


ModelT = TypeVar("ModelT", bound=nn.Module)


@dataclass
class Checkpoint(Generic[ModelT]):
    """A trained model and its provenance."""

    model: ModelT
    dataset: str
    protocol: str
    dataset_hash: str = ""
    units: dict[str, str] = field(default_factory=dict)  # property or target → unit
    training_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        return type(self.model).family

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint to ``path`` whole or not at all (a kill mid-write leaves
        the previous file, or none, never a truncated one)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "family": self.family,
            "model": self.model.checkpoint_fields(),
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            **{name: getattr(self, name) for name in RECORD_FIELDS},
        }
        partial = path.with_name(path.name + ".partial")
        torch.save(payload, partial)
        os.replace(partial, path)
        return path

    @classmethod
    def load(
        cls, path: str | Path, families: Sequence[type], what: str, device: str = "cpu"
    ) -> Checkpoint:
        """The checkpoint at ``path``, whose family must be one of ``families``; a missing,
        foreign, newer or mismatched file raises one sentence naming it and ``what`` it
        should be (e.g. "predictor checkpoint")."""
        return cls.from_payload(load_payload(path, what), path, families, what, device)

    @classmethod
    def from_payload(
        cls, payload: dict, path, families: Sequence[type], what: str, device: str = "cpu"
    ) -> Checkpoint:
        payload = _current_layout(payload, families)
        if payload is None:
            raise InputError(f"{path}: not a gendesign {what}")
        if payload.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{path}: checkpoint format version {payload.get('format_version')} is not "
                f"supported by this gendesign (expects {FORMAT_VERSION})"
            )
        by_name = {family.family: family for family in families}
        family = by_name.get(payload.get("family"))
        if family is None:
            raise InputError(
                f"{path}: a '{payload.get('family')}' checkpoint, not a {what} "
                f"({' or '.join(by_name)})"
            )
        state = payload["state_dict"]
        try:
            model = family.from_checkpoint_fields(payload["model"], state)
            model.load_state_dict(state)
        except Exception as err:  # a config or tensor shape from another version
            raise InputError(f"{path}: checkpoint does not match this model code ({err})") from None
        record = {name: payload.get(name) for name in RECORD_FIELDS}
        record["units"] = dict(record["units"] or {})
        record["training_config"] = record["training_config"] or {}
        record["metrics"] = record["metrics"] or {}
        record["dataset_hash"] = record["dataset_hash"] or ""
        return cls(model=model.to(device).eval(), **record)


def _current_layout(payload: dict, families: Sequence[type]) -> dict | None:
    """``payload`` in the current layout: as it is, upgraded by one of ``families``, or None."""
    if payload.get("format") == FORMAT:
        return payload
    for family in families:
        upgraded = family.upgrade_payload(payload)
        if upgraded is not None:
            return {"format": FORMAT, "format_version": FORMAT_VERSION, **upgraded}
    return None


def legacy_record(payload: dict, **overrides) -> dict:
    """The provenance fields of a version-1 payload (for a family's ``upgrade_payload``)."""
    record = {name: payload.get(name) for name in RECORD_FIELDS}
    return {**record, **overrides}


def upgrade_version_1(
    payload: dict, legacy_format: str, family: str, fields: dict[str, str]
) -> dict | None:
    """A version-1 payload tagged ``legacy_format`` in the current layout (None if it is
    another kind): ``fields`` maps each constructor field to its key in the old payload."""
    if payload.get("format") != legacy_format:
        return None
    if payload.get("format_version") != 1:
        return {"format_version": payload.get("format_version")}
    model = {field: payload[old] for field, old in fields.items()}
    return {"family": family, "model": model, "state_dict": payload["state_dict"],
            **legacy_record(payload)}  # fmt: skip
