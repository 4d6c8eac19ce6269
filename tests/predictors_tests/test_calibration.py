"""Calibrating an ensemble's spread: the fit restores normal coverage, and the bundled
predictor applies its stored calibration."""

from __future__ import annotations

import numpy as np

from predictors.calibration import (
    CalibrationRecord,
    SigmaCalibration,
    calibrate,
    coverage,
    fit_sigma_calibration,
)
from predictors.inference import Predictor


def _overconfident(n: int, seed: int = 0):
    """Errors whose true σ is 2× the reported spread plus a 0.05 floor."""
    rng = np.random.default_rng(seed)
    spread = rng.uniform(0.01, 0.2, n)
    error = rng.normal(0.0, np.sqrt((2 * spread) ** 2 + 0.05**2))
    return error, spread


def test_fit_restores_normal_coverage_on_fresh_errors():
    error, spread = _overconfident(600)
    fit = fit_sigma_calibration(error, spread)
    assert 1.6 < fit.scale < 2.5 and 0.02 < fit.floor < 0.08
    fresh_error, fresh_spread = _overconfident(20_000, seed=1)
    before = coverage(fresh_error, fresh_spread)
    one, two = coverage(fresh_error, fit.apply(fresh_spread))
    assert before[0] < 0.5  # the raw spread is far too small
    assert abs(one - 0.683) < 0.05 and abs(two - 0.954) < 0.03


def test_a_slope_is_used_only_where_errors_grow_with_the_value():
    rng = np.random.default_rng(2)
    mean = rng.uniform(0, 4, 800)
    spread = np.full(800, 0.05)
    growing = rng.normal(0.0, 0.05 + 0.3 * mean)
    assert fit_sigma_calibration(growing, spread, mean).slope > 0.1
    flat = rng.normal(0.0, 0.1, 800)
    assert fit_sigma_calibration(flat, spread, mean).slope < 0.02  # at most noise


def test_the_record_round_trips_and_the_bundled_predictor_uses_it(tmp_path, mp20):
    error, spread = _overconfident(300)
    record = calibrate({"x": error}, {"x": spread}, {"x": np.zeros(300)}, "synthetic")
    record.save(tmp_path)
    assert CalibrationRecord.load(tmp_path) == record
    assert record.coverage_after["x"][0] > record.coverage_before["x"][0]

    calibrated = Predictor.pretrained("mp20")
    raw = Predictor.pretrained("mp20", calibrated=False)
    assert calibrated.calibration is not None and raw.calibration is None
    structures = mp20.crystal_set("test").structures[:20]
    with_sigma, without = calibrated.predict(structures), raw.predict(structures)
    for target in calibrated.targets:
        fit: SigmaCalibration = calibrated.calibration.targets[target]
        np.testing.assert_allclose(with_sigma[f"{target}_spread"], without[f"{target}_std"])
        np.testing.assert_allclose(
            with_sigma[f"{target}_std"],
            fit.apply(without[f"{target}_std"], without[f"{target}_mean"]),
        )
        assert (with_sigma[f"{target}_std"] >= 0).all()
