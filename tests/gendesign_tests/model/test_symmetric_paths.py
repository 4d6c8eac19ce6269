"""Coordinate-flow training paths that keep each crystal's own space group."""

from __future__ import annotations

import glob

import pandas as pd
import pytest
import torch

from gendesign.config import load_config
from gendesign.data.arrays import CrystalArrays
from gendesign.errors import InputError
from gendesign.model.crystalflow.config import FlowTrainingConfig
from gendesign.model.crystalflow.spacegroup_templates import BatchSymmetry, constrain
from gendesign.model.crystalflow.symmetric_paths import SymmetricPath, TemplatedCrystals
from gendesign.model.crystalflow.torus_flow import free_path, wrap


def test_every_point_of_a_symmetric_path_keeps_the_space_group_and_it_ends_on_the_crystal(mp20):
    arrays = CrystalArrays.from_crystal_set(mp20.crystal_set("test").subset(range(120)))
    templated = TemplatedCrystals.of(arrays)
    assert templated.share_with_template > 0.97
    # one cell without a template in the batch: it takes the free geodesic
    templates = [None, *templated.templates[1:]]
    cells = templated.arrays
    symmetry = BatchSymmetry.of(templates, cells.num_atoms.tolist())
    end = cells.frac_coords.double()
    noise = torch.rand(end.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    start, displacement = SymmetricPath(symmetry)(noise, end)
    assert wrap(start + displacement - end).abs().max() < 1e-9
    for t in (0.0, 0.37, 0.81):
        point = (start + t * displacement) % 1.0
        assert wrap(constrain(point, symmetry) - point).abs().max() < 1e-9
    first = slice(0, int(cells.num_atoms[0]))
    free_start, free_displacement = free_path(noise[first], end[first])
    assert torch.allclose(start[first], free_start) and torch.allclose(
        displacement[first], free_displacement
    )
    # the orbit shares one displacement, so its atoms move less freely than on free paths
    assert displacement.norm(dim=1).mean() < 0.6


def test_a_coordinate_stage_trains_on_a_mix_of_symmetric_and_free_paths(mp20, tmp_path):
    from gendesign.model.crystalflow.training import train_flow_stage

    config = load_config(
        FlowTrainingConfig,
        "configs/model/flow/tiny-coordinates.yaml",
        {"out_dir": str(tmp_path), "data": {"dataset": "mp20"}, "template_paths": 0.5,
         "max_train_crystals": 256, "max_epochs": 2},
    )  # fmt: skip
    stage_file = train_flow_stage(config)
    stage = torch.load(stage_file, weights_only=True)
    assert stage["training_config"]["template_paths"] == 0.5
    log = pd.read_csv(sorted(glob.glob(str(tmp_path / "log" / "*" / "metrics.csv")))[-1])
    losses = log["train_loss"].dropna()
    assert len(losses) and losses.notna().all() and log["val_loss"].dropna().iloc[-1] > 0

    # finetune_from: a second run starts from those weights (a vanishing learning rate
    # keeps them), and a source of other sizes gets one sentence
    again = config.model_copy(update={"out_dir": str(tmp_path / "again"), "max_epochs": 1,
                                      "learning_rate": 1e-12, "finetune_from": str(stage_file)})  # fmt: skip
    tuned = torch.load(train_flow_stage(again), weights_only=True)["state_dict"]
    assert all(torch.allclose(tuned[k], v, atol=1e-6) for k, v in stage["state_dict"].items())
    bundled = config.model_copy(update={"out_dir": str(tmp_path / "b"), "finetune_from": "mp20"})
    with pytest.raises(InputError, match="finetune_from mp20: its coordinates network has other"):
        train_flow_stage(bundled)
