"""Training a tiny predictor with Lightning and reading its checkpoint back."""

from __future__ import annotations

import pytest
import torch

from gendesign.errors import ConfigError, GendesignError, InputError
from predictors.checkpoint import PredictorCheckpoint
from predictors.training import PredictorTrainingConfig, train_predictor


def tiny_config(tmp_path, **overrides) -> PredictorTrainingConfig:
    return PredictorTrainingConfig.model_validate(
        {
            "data": {"dataset": "perov5"},
            "model": {"hidden_channels": 16, "num_layers": 2, "head_hidden": 16},
            "batch_size": 32,
            "max_steps": 24,
            "max_train_crystals": 256,
            "out_dir": str(tmp_path / "run"),
            **overrides,
        }
    )


def test_training_writes_a_complete_checkpoint(perov5, tmp_path):
    path = train_predictor(tiny_config(tmp_path))
    checkpoint = PredictorCheckpoint.load(path)
    assert checkpoint.targets == ["heat_ref"] and checkpoint.units == ["eV"]
    assert checkpoint.dataset == "perov5" and checkpoint.vocabulary == perov5.vocabulary
    assert checkpoint.metrics["steps"] == 24
    assert checkpoint.metrics["holdout"]["val_mae_heat_ref"] > 0
    batch = next(iter(perov5.loader("test", batch_size=16)))
    with torch.no_grad():
        predicted = checkpoint.network(batch) * checkpoint.target_std + checkpoint.target_mean
    assert predicted.shape == (16, 1) and torch.isfinite(predicted).all()
    assert (tmp_path / "run" / "config.yaml").exists()
    assert list((tmp_path / "run" / "log").rglob("metrics.csv"))
    # A checkpoint is tied to its elements: another dataset's vocabulary is refused.
    with pytest.raises(GendesignError, match="different element vocabulary"):
        checkpoint.vocabulary.check_compatible(
            type(checkpoint.vocabulary).from_symbols(["Na", "Cl"]), "the perov5 predictor"
        )


def test_bad_targets_and_files_are_one_sentence(perov5, tmp_path):
    with pytest.raises(ConfigError, match="target\\(s\\) band_gap not in dataset 'perov5'"):
        train_predictor(tiny_config(tmp_path, targets=["band_gap"]))
    with pytest.raises(InputError, match="predictor checkpoint not found"):
        PredictorCheckpoint.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable predictor checkpoint"):
        PredictorCheckpoint.load(tmp_path / "junk.pt")
