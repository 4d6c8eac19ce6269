"""Calibrating an ensemble's spread so that its σ means what a normal σ means.

An ensemble's spread is usually too small where the members agree, and errors
often grow with the predicted value (a band gap predicted near 0 eV is rarely far
off). Per target, the calibrated σ is ``sqrt((scale·σ)² + (floor + slope·|mean|)²)``
(floor in the target's unit), chosen on labelled crystals the members were not
fitted to (the holdout split) so that 68.3 % of errors fall within 1σ and 95.4 %
within 2σ (the larger miss, in units of ±5 and ±3 points, as small as it gets). The slope is used only where it at least halves the coverage miss of
scale and floor alone: a third parameter fitted on a few hundred crystals must
earn its place. The fit is stored as ``calibration.json`` beside a bundle's members;
:class:`~predictors.inference.Predictor` applies it to every prediction.

python -m predictors.recalibrate NAME   # fit the bundled ensemble NAME on its holdout
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

CALIBRATION_FILE = "calibration.json"
ONE_SIGMA, TWO_SIGMA = 0.6827, 0.9545  # normal coverage of ±1σ and ±2σ
# How far each coverage may stray (68 ± 5 %, 95 ± 3 %). Errors with heavier tails than
# a normal's cannot meet both levels exactly; the fit balances the misses in these units.
COVERAGE_TOLERANCE = (0.05, 0.03)


@dataclass(frozen=True)
class SigmaCalibration:
    """σ_calibrated = sqrt((scale·σ)² + (floor + slope·|mean|)²) for one target (floor in
    its unit, slope per unit of the predicted value)."""

    scale: float = 1.0
    floor: float = 0.0
    slope: float = 0.0

    def apply(self, std: np.ndarray, mean: np.ndarray | float = 0.0) -> np.ndarray:
        spread = self.floor + self.slope * np.abs(np.asarray(mean))
        return np.sqrt((self.scale * np.asarray(std)) ** 2 + spread**2)


def coverage(error: np.ndarray, std: np.ndarray) -> tuple[float, float]:
    """Shares of |error| within 1σ and within 2σ."""
    error = np.abs(error)
    return float((error <= std).mean()), float((error <= 2 * std).mean())


def _coverage_miss(error: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """How far the 1σ and 2σ coverage (over the last axis) are from a normal's, the
    larger of the two in units of its tolerance (COVERAGE_TOLERANCE)."""
    one = (error <= sigma).mean(axis=-1)
    two = (error <= 2 * sigma).mean(axis=-1)
    low, high = COVERAGE_TOLERANCE
    return np.maximum(np.abs(one - ONE_SIGMA) / low, np.abs(two - TWO_SIGMA) / high)


def fit_sigma_calibration(
    error: np.ndarray, std: np.ndarray, mean: np.ndarray | None = None
) -> SigmaCalibration:
    """The calibration whose 1σ and 2σ coverage of ``error`` come closest to a normal
    distribution's (:func:`_coverage_miss`), by a grid search (scale 0.3–10, floor 0 to the 95th percentile of
    |error|, slope 0–2 when ``mean`` is given; see the module docstring)."""
    error, std = np.abs(np.asarray(error)), np.asarray(std)
    magnitude = np.zeros_like(std) if mean is None else np.abs(np.asarray(mean))
    scales = np.geomspace(0.3, 10.0, 60)
    floors = np.concatenate([[0.0], np.geomspace(1e-3, max(np.quantile(error, 0.95), 2e-3), 30)])
    slopes = np.concatenate([[0.0], np.geomspace(1e-3, 2.0, 30)]) if mean is not None else [0.0]
    fits = []  # (miss, calibration) of the best scale and floor for each slope
    for slope in slopes:
        spread = floors[None, :, None] + slope * magnitude
        sigma = np.sqrt((scales[:, None, None] * std) ** 2 + spread**2)
        miss = _coverage_miss(error, sigma)
        i, j = np.unravel_index(np.argmin(miss), miss.shape)
        fits.append(
            (float(miss[i, j]), SigmaCalibration(float(scales[i]), float(floors[j]), float(slope)))
        )
    without_slope = fits[0]
    with_slope = min(fits, key=lambda fit: fit[0])
    return with_slope[1] if with_slope[0] <= 0.5 * without_slope[0] else without_slope[1]


@dataclass
class CalibrationRecord:
    """The fitted calibration of every target, and what it was fitted on."""

    targets: dict[str, SigmaCalibration]
    fitted_on: str  # e.g. "mp20 holdout (452 crystals)"
    coverage_before: dict[str, tuple[float, float]]
    coverage_after: dict[str, tuple[float, float]]

    def save(self, folder: Path) -> Path:
        payload = asdict(self)
        path = Path(folder) / CALIBRATION_FILE
        path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, folder: Path) -> CalibrationRecord | None:
        path = Path(folder) / CALIBRATION_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["targets"] = {k: SigmaCalibration(**v) for k, v in data["targets"].items()}
        for key in ("coverage_before", "coverage_after"):
            data[key] = {k: tuple(v) for k, v in data[key].items()}
        return cls(**data)


def calibrate(
    error: dict[str, np.ndarray],
    std: dict[str, np.ndarray],
    mean: dict[str, np.ndarray],
    fitted_on: str,
) -> CalibrationRecord:
    """A :class:`CalibrationRecord` from per-target errors, ensemble spreads and means."""
    targets = {t: fit_sigma_calibration(error[t], std[t], mean[t]) for t in error}
    return CalibrationRecord(
        targets,
        fitted_on,
        {t: coverage(error[t], std[t]) for t in error},
        {t: coverage(error[t], targets[t].apply(std[t], mean[t])) for t in error},
    )
