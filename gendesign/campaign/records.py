"""A stage's record of a candidate, read by attribute from the store's flat columns.

The store keeps what each stage decided as key-value pairs named
``<stage>_status``, ``<stage>_reason`` and ``<stage>_<key>`` (so ``ase db`` can
query them). This module is the one place that names those columns
(:func:`column`) and reads them back (:class:`StageRecord`,
:func:`predicted_properties`); stages, ranking and report use it instead of
building or slicing the names themselves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


def column(stage: str, key: str) -> str:
    """The store's name for value ``key`` of ``stage`` (e.g. ``relax_e_above_hull_eV_atom``)."""
    return f"{stage}_{key}"


@dataclass(frozen=True)
class StageRecord:
    """What ``stage`` recorded for one candidate: ``status`` (passed, dropped, failed, or
    None when it has not run for it), ``reason`` and its ``values`` by their own keys."""

    stage: str
    status: str | None = None
    reason: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_flat(cls, stage: str, flat: Mapping[str, Any]) -> StageRecord:
        """The record of ``stage`` among a candidate's flat key-value pairs."""
        prefix = f"{stage}_"
        own = {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}
        status, reason = own.pop("status", None), own.pop("reason", "")
        return cls(stage, status, reason or "", own)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def number(self, key: str, default: float = math.nan) -> float:
        """Value ``key`` as a float (``default`` when the stage did not record it)."""
        value = self.values.get(key)
        return default if value is None else float(value)


def predicted_properties(columns: Iterable[str], stage: str) -> list[str]:
    """The properties ``stage`` recorded with a predicted σ (``<stage>_<name>_std``)."""
    prefix, suffix = f"{stage}_", "_std"
    return sorted(
        c[len(prefix) : -len(suffix)]
        for c in columns
        if c.startswith(prefix) and c.endswith(suffix) and len(c) > len(prefix) + len(suffix)
    )
