"""Standard scalers for lattice parameters and properties, NaN-aware, fit on train only."""

from __future__ import annotations

import torch


class StandardScaler:
    """Per-column (x - mean) / std; NaN entries are ignored when fitting and kept as NaN."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, names: list[str] | None = None):
        self.mean = mean.to(torch.float64)
        self.std = std.to(torch.float64)
        self.names = list(names) if names is not None else [str(i) for i in range(len(mean))]

    @classmethod
    def fit(cls, values: torch.Tensor, names: list[str] | None = None) -> StandardScaler:
        """Fit on an (N, D) tensor; columns with no finite value get mean 0, std 1."""
        values = values.to(torch.float64)
        finite = torch.isfinite(values)
        count = finite.sum(0).clamp(min=1)
        filled = torch.where(finite, values, torch.zeros_like(values))
        mean = filled.sum(0) / count
        var = (torch.where(finite, values - mean, torch.zeros_like(values)) ** 2).sum(0) / count
        std = var.sqrt()
        # A constant column (std 0) would divide by zero: leave it unscaled.
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        return cls(mean, std, names)

    def transform(self, values: torch.Tensor) -> torch.Tensor:
        return ((values.to(torch.float64) - self.mean) / self.std).to(values.dtype)

    def inverse_transform(self, values: torch.Tensor) -> torch.Tensor:
        return (values.to(torch.float64) * self.std + self.mean).to(values.dtype)

    def state_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "names": self.names}

    @classmethod
    def from_state_dict(cls, state: dict) -> StandardScaler:
        f64 = torch.float64
        return cls(
            torch.tensor(state["mean"], dtype=f64),
            torch.tensor(state["std"], dtype=f64),
            state["names"],
        )

    def __repr__(self) -> str:
        cols = ", ".join(
            f"{n}: {m:.3g}±{s:.3g}" for n, m, s in zip(self.names, self.mean, self.std, strict=True)
        )
        return f"StandardScaler({cols})"
