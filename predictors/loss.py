"""Multi-task loss that ignores missing labels."""

from __future__ import annotations

import torch


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over labelled entries only, averaged per target so that a
    sparsely labelled property weighs as much as a dense one.

    ``prediction``, ``target``, ``mask``: (crystals, targets); ``target`` may hold
    NaN where ``mask`` is False. Targets with no label in the batch are left out.
    """
    mask = mask.to(prediction.dtype)
    error = torch.where(mask.bool(), prediction - torch.nan_to_num(target), 0.0) ** 2
    labelled = mask.sum(dim=0)
    present = labelled > 0
    if not present.any():
        return prediction.sum() * 0.0  # keeps the graph; no labels, no signal
    per_target = error.sum(dim=0)[present] / labelled[present]
    return per_target.mean()
