"""The bundled ensembles: loadable by name, offline, and accurate on real test crystals."""

from __future__ import annotations

import pytest

from predictors.evaluation import evaluate
from predictors.inference import BUNDLED, Predictor


def test_bundled_ensembles_are_listed():
    assert {"mp20", "perov5"} <= set(BUNDLED.names())


def test_the_mp20_ensemble_is_accurate_and_its_spread_tracks_its_error(mp20):
    predictor = Predictor.pretrained("mp20")
    assert len(predictor.members) == 5
    assert predictor.targets == ["formation_energy_per_atom", "band_gap"]
    assert predictor.units == ["eV/atom", "eV"]
    assert predictor.vocabulary == mp20.vocabulary
    crystals = mp20.splits["test"].subset(range(400)).to_crystal_set()
    metrics, table = evaluate(predictor, crystals)
    # Full-test-split figures are in BENCHMARKS.md; a 400-crystal slice is noisier.
    assert metrics["formation_energy_per_atom"]["mae"] < 0.07
    assert metrics["band_gap"]["mae"] < 0.40
    assert metrics["formation_energy_per_atom"]["r2"] > 0.95
    for target in predictor.targets:
        assert (table[f"{target}_std"] > 0).all()
        assert metrics[target]["spearman_abs_error_vs_sigma"] > 0.15


def test_the_perov5_ensemble_predicts_heat_of_formation(perov5):
    predictor = Predictor.pretrained("perov5")
    assert predictor.targets == ["heat_ref"] and len(predictor.members) == 3
    metrics, _ = evaluate(predictor, perov5.splits["test"].subset(range(400)).to_crystal_set())
    assert metrics["heat_ref"]["mae"] < 0.12
    assert metrics["heat_ref"]["r2"] == pytest.approx(1, abs=0.1)
