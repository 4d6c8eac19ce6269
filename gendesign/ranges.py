"""One range type for every "this value should lie between" in the product.

A :class:`Range` has a lower and an upper bound, either of which may be open
(None). Generation constraints (atom counts, property targets), campaign
targets, the screen's probability of meeting a target and the report's target
bands all use it. It reads from ``"1.5:2.5"``, ``":-1.0"``, ``"3:"``, a single
value ``"2"`` or a mapping ``{min: 1.5, max: 2.5}``.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

from pydantic import ConfigDict, model_validator

from gendesign.config import StrictConfig
from gendesign.errors import ConfigError

# A predicted σ below this is treated as this (a point estimate would make P(in range) 0 or 1).
MIN_STD = 1e-6


class Range(StrictConfig):
    """``min ≤ value ≤ max`` in the value's own units; None is an open end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None  # lower end, in the value's units; None: open
    max: float | None = None  # upper end, in the value's units; None: open

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            low, high = _parse_bounds(str(value))
            return {"min": low, "max": high}
        if isinstance(value, tuple | list) and len(value) == 2:
            return {"min": value[0], "max": value[1]}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"the range is empty (min {self.min:g} above max {self.max:g})")
        return self

    @classmethod
    def parse(cls, text: str, what: str) -> Range:
        """A range from CLI text; a malformed or empty one raises one sentence naming ``what``."""
        try:
            low, high = _parse_bounds(text)
        except ValueError as err:
            raise ConfigError(f"{what}: {err}") from None
        if low is None and high is None:
            raise ConfigError(f"{what}: '{text}' gives neither a lower nor an upper bound")
        if low is not None and high is not None and low > high:
            raise ConfigError(f"{what}: the range '{text}' is empty (lower bound above upper)")
        return cls(min=low, max=high)

    @property
    def is_open(self) -> bool:
        """True when neither end is bounded (every finite value is inside)."""
        return self.min is None and self.max is None

    def contains(self, value: float) -> bool:
        """Whether ``value`` is finite and inside (ends included)."""
        return (
            math.isfinite(value)
            and (self.min is None or value >= self.min)
            and (self.max is None or value <= self.max)
        )

    def probability(self, mean: float, std: float) -> float:
        """P(min ≤ y ≤ max) for y ~ N(mean, std²)."""
        normal = NormalDist(mean, max(std, MIN_STD))
        low = normal.cdf(self.min) if self.min is not None else 0.0
        high = normal.cdf(self.max) if self.max is not None else 1.0
        return max(0.0, high - low)

    def touches(self, mean: float, std: float, kappa: float) -> bool:
        """Whether [mean − kappa·std, mean + kappa·std] overlaps the range."""
        low, high = mean - kappa * std, mean + kappa * std
        return (self.max is None or low <= self.max) and (self.min is None or high >= self.min)

    def scaled(self, mean: float, std: float) -> Range:
        """The range in standardised units, (x − mean) / std."""
        return Range(
            min=None if self.min is None else (self.min - mean) / std,
            max=None if self.max is None else (self.max - mean) / std,
        )

    def describe(self) -> str:
        """``"1.5:2.5"``, ``":-1"`` or ``"3:"``: the form the CLI reads."""
        low = "" if self.min is None else f"{self.min:g}"
        high = "" if self.max is None else f"{self.max:g}"
        return f"{low}:{high}"


OPEN = Range()


def _parse_bounds(text: str) -> tuple[float | None, float | None]:
    parts = text.split(":")
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    if len(parts) != 2:
        raise ValueError(f"'{text}' is not a range like 1.5:2.5, :-1.0 or 3:")
    try:
        low, high = (float(p) if p.strip() else None for p in parts)
    except ValueError:
        raise ValueError(f"'{text}' is not a range like 1.5:2.5, :-1.0 or 3:") from None
    return low, high
