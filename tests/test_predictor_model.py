"""The crystal graph network and its masked multi-task loss, on real mp20 crystals."""

from __future__ import annotations

import torch

from predictors.loss import masked_mse
from predictors.model import CrystalGraphNetwork, CrystalGraphNetworkConfig

TARGETS = ["formation_energy_per_atom", "band_gap"]


def standardized_targets(mp20, batch):
    columns = [mp20.property_names.index(name) for name in TARGETS]
    y = batch.y[:, columns]
    scaler = mp20.property_scaler
    mean = scaler.mean[columns].to(y.dtype)
    std = scaler.std[columns].to(y.dtype)
    return (y - mean) / std, batch.y_mask[:, columns]


def test_a_tiny_network_learns_a_real_batch(mp20):
    torch.manual_seed(0)
    batch = next(iter(mp20.loader("train", batch_size=32, shuffle=True, seed=0)))
    target, mask = standardized_targets(mp20, batch)
    config = CrystalGraphNetworkConfig(hidden_channels=16, num_layers=2, head_hidden=16)
    model = CrystalGraphNetwork(len(TARGETS), config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = masked_mse(model(batch), target, mask)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert model(batch).shape == (32, 2)
    assert losses[-1] < 0.5 * losses[0]


def test_missing_labels_do_not_reach_the_loss():
    prediction = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    target = torch.tensor([[0.0, float("nan")], [3.0, float("nan")]])
    mask = torch.isfinite(target)
    loss = masked_mse(prediction, target, mask)
    assert loss.item() == 0.5  # only column 0 is labelled: (1² + 0²) / 2
    loss.backward()
    assert torch.all(prediction.grad[:, 1] == 0)  # the unlabelled column gets no gradient
    assert torch.isfinite(prediction.grad).all()
    nothing = masked_mse(prediction, target, torch.zeros_like(mask))
    assert nothing.item() == 0.0
