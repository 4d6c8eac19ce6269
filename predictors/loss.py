"""Multi-task losses that ignore missing labels."""

from __future__ import annotations

from typing import Literal

import torch

LossName = Literal["mae", "mse"]


def masked_loss(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: LossName = "mse"
) -> torch.Tensor:
    """Mean absolute (``"mae"``) or squared (``"mse"``) error over labelled entries only,
    averaged per target so that a sparsely labelled property weighs as much as a dense one.

    ``prediction``, ``target``, ``mask``: (crystals, targets); ``target`` may hold
    NaN where ``mask`` is False. Targets with no label in the batch are left out.
    """
    difference = torch.where(mask.bool(), prediction - torch.nan_to_num(target), 0.0)
    error = difference.abs() if kind == "mae" else difference**2
    labelled = mask.to(prediction.dtype).sum(dim=0)
    present = labelled > 0
    if not present.any():
        return prediction.sum() * 0.0  # keeps the graph; no labels, no signal
    per_target = error.sum(dim=0)[present] / labelled[present]
    return per_target.mean()
