"""The crystal graph network and its masked multi-task loss, on real mp20 crystals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from gendesign.nn.blocks import CrystalGraphNetwork, CrystalGraphNetworkConfig
from predictors.graph_cache import with_neighbor_graphs
from predictors.loss import masked_loss

TARGETS = ["formation_energy_per_atom", "band_gap"]


def standardized_targets(mp20, batch):
    columns = [mp20.property_names.index(name) for name in TARGETS]
    y = batch.y[:, columns]
    scaler = mp20.property_scaler
    mean = scaler.mean[columns].to(y.dtype)
    std = scaler.std[columns].to(y.dtype)
    return (y - mean) / std, batch.y_mask[:, columns]


@pytest.mark.parametrize("architecture", ["cgcnn", "edge_gated"])
@pytest.mark.parametrize("loss_kind", ["mse", "mae"])
def test_a_tiny_network_learns_a_real_batch(mp20, architecture, loss_kind):
    torch.manual_seed(0)
    batch = next(iter(mp20.loader("train", batch_size=32, shuffle=True, seed=0)))
    target, mask = standardized_targets(mp20, batch)
    config = CrystalGraphNetworkConfig(
        architecture=architecture, hidden_channels=16, num_layers=2, head_hidden=16
    )
    model = CrystalGraphNetwork(len(TARGETS), config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = masked_loss(model(batch), target, mask, loss_kind)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert model(batch).shape == (32, 2)
    assert losses[-1] < 0.5 * losses[0]


def test_missing_labels_do_not_reach_the_loss():
    prediction = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    target = torch.tensor([[0.0, float("nan")], [3.0, float("nan")]])
    mask = torch.isfinite(target)
    loss = masked_loss(prediction, target, mask, "mse")
    assert loss.item() == 0.5  # only column 0 is labelled: (1² + 0²) / 2
    loss.backward()
    assert torch.all(prediction.grad[:, 1] == 0)  # the unlabelled column gets no gradient
    assert torch.isfinite(prediction.grad).all()
    nothing = masked_loss(prediction, target, torch.zeros_like(mask), "mse")
    assert nothing.item() == 0.0
    absolute = masked_loss(prediction, target, mask, "mae")
    assert absolute.item() == 0.5  # (|1| + |0|) / 2


@pytest.mark.parametrize("architecture", ["cgcnn", "edge_gated"])
def test_precomputed_neighbour_graphs_give_the_same_predictions(mp20, architecture):
    """Training searches neighbours once per crystal; inference searches per batch.
    Both must feed the network the same edges."""
    torch.manual_seed(0)
    crystals = mp20.splits["test"].subset(range(40))
    config = CrystalGraphNetworkConfig(architecture=architecture, hidden_channels=16)
    model = CrystalGraphNetwork(2, config).eval()
    graphs = with_neighbor_graphs(crystals, config.cutoff, config.max_neighbors)
    assert all(g.edge_index.max() < g.num_nodes for g in graphs)
    with torch.no_grad():
        cached = torch.cat([model(b) for b in DataLoader(graphs, batch_size=16)])
        on_the_fly = torch.cat([model(b) for b in DataLoader(crystals, batch_size=16)])
    torch.testing.assert_close(cached, on_the_fly, rtol=1e-5, atol=1e-5)


def test_regression_metrics_and_spread_calibration():
    from predictors.evaluation import regression_metrics

    true = np.array([0.0, 1.0, 2.0, 3.0])
    mean = np.array([0.5, 1.0, 1.0, 3.0])  # errors 0.5, 0, -1, 0
    std = np.array([1.0, 0.1, 0.4, 0.2])
    m = regression_metrics(true, mean, std)
    assert m["mae"] == 0.375 and m["rmse"] == pytest.approx(np.sqrt(1.25 / 4))
    assert m["r2"] == pytest.approx(1 - 1.25 / 5)
    assert m["within_1_sigma"] == 0.75 and m["within_2_sigma"] == 0.75  # the -1 error is 2.5σ
    assert "within_1_sigma" not in regression_metrics(true, mean, np.zeros(4))  # a single model
