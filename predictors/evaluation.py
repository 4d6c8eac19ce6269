"""How good a predictor is on labelled crystals: errors, R² and calibration of its spread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from gendesign.data.crystal_set import CrystalSet
from predictors.inference import Predictor


def regression_metrics(true: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict:
    """MAE, RMSE, R² (units of ``true``) and, for an ensemble, how well ``std`` tracks
    the error: share of |error| within 1σ and 2σ (≈ 0.68 and 0.95 if calibrated, for
    Gaussian errors) and the Spearman rank correlation of |error| with σ."""
    error = mean - true
    metrics = {
        "n": len(true),
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "r2": float(1 - (error**2).sum() / ((true - true.mean()) ** 2).sum()),
    }
    if np.any(std > 0):
        metrics |= {
            "within_1_sigma": float((np.abs(error) <= std).mean()),
            "within_2_sigma": float((np.abs(error) <= 2 * std).mean()),
            "spearman_abs_error_vs_sigma": float(spearmanr(np.abs(error), std).statistic),
            "mean_sigma": float(std.mean()),
        }
    return metrics


def evaluate(
    predictor: Predictor, crystals: CrystalSet, batch_size: int = 256
) -> tuple[dict[str, dict], pd.DataFrame]:
    """Metrics per target over the crystals with a label and a prediction, and the
    table of labels beside predictions (``<target>_true``, ``_mean``, ``_std``)."""
    table = predictor.predict(crystals, batch_size=batch_size)
    metrics = {}
    for target in predictor.targets:
        true = np.full(len(table), np.nan)  # unreadable items (last rows) have no label
        true[: len(crystals)] = crystals.properties[target].to_numpy()
        table[f"{target}_true"] = true
        usable = table[[f"{target}_true", f"{target}_mean"]].notna().all(axis=1)
        rows = table[usable]
        metrics[target] = regression_metrics(
            rows[f"{target}_true"].to_numpy(),
            rows[f"{target}_mean"].to_numpy(),
            rows[f"{target}_std"].to_numpy(),
        )
    return metrics, table


def plot_parity(
    table: pd.DataFrame, predictor: Predictor, path: str | Path, title: str = ""
) -> Path:
    """Predicted vs true, one panel per target (the table from :func:`evaluate`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = predictor.targets
    figure, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 4.2), squeeze=False)
    for axis, target, unit in zip(axes[0], targets, predictor.units, strict=True):
        true, mean = table[f"{target}_true"], table[f"{target}_mean"]
        axis.scatter(true, mean, s=2, alpha=0.3)
        low, high = np.nanmin([true.min(), mean.min()]), np.nanmax([true.max(), mean.max()])
        axis.plot([low, high], [low, high], "k--", lw=0.8)
        axis.set_xlabel(f"true {target} ({unit})")
        axis.set_ylabel(f"predicted ({unit})")
        axis.set_title(f"{title} {target}".strip())
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
