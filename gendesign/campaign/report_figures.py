"""Pictures for the campaign report: distributions against the training set, the E_hull
histogram and a view of each top structure (PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from ase.visualize.plot import plot_atoms  # noqa: E402
from pymatgen.core import Structure  # noqa: E402
from pymatgen.io.ase import AseAtomsAdaptor  # noqa: E402

from gendesign.ranges import Range  # noqa: E402


def property_distribution(
    label: str,
    series: dict[str, np.ndarray],
    training: np.ndarray | None,
    path: Path,
    target: Range | None = None,
) -> Path:
    """Normalised histograms of each series (e.g. screened, relaxed) over the training
    set's, with the target range shaded."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    finite = [v[np.isfinite(v)] for v in series.values()]
    pool = np.concatenate(
        [*finite, training[np.isfinite(training)] if training is not None else []]
    )
    if pool.size == 0:
        plt.close(fig)
        return path
    bins = np.linspace(np.percentile(pool, 0.5), np.percentile(pool, 99.5) + 1e-9, 40)
    if training is not None:
        ax.hist(training, bins=bins, density=True, color="0.8", label="training set")
    for (name, values), color in zip(series.items(), ("C0", "C1", "C2"), strict=False):
        values = values[np.isfinite(values)]
        if values.size:
            ax.hist(
                values,
                bins=bins,
                density=True,
                histtype="step",
                lw=2,
                color=color,
                label=f"{name} ({values.size})",
            )
    if target is not None:
        low, high = target.min, target.max
        ax.axvspan(
            bins[0] if low is None else low,
            bins[-1] if high is None else high,
            color="C2",
            alpha=0.12,
            label="target",
        )
    ax.set_xlabel(label)
    ax.set_ylabel("density")
    ax.legend(fontsize=8, frameon=False)
    return _saved(fig, path)


def e_hull_histogram(values: np.ndarray, threshold: float, path: Path) -> Path:
    """Energies above the hull of the relaxed candidates (eV/atom)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    values = values[np.isfinite(values)]
    if values.size:
        ax.hist(values, bins=min(40, max(5, values.size)), color="C0")
    ax.axvline(threshold, color="C3", ls="--", label=f"stable ≤ {threshold:g} eV/atom")
    ax.set_xlabel("E above hull after relaxation (eV/atom)")
    ax.set_ylabel("candidates")
    ax.legend(fontsize=8, frameon=False)
    return _saved(fig, path)


def structure_picture(structure: Structure, path: Path) -> Path:
    """The unit cell and its atoms, seen slightly off-axis."""
    fig, ax = plt.subplots(figsize=(2.4, 2.4))
    plot_atoms(AseAtomsAdaptor.get_atoms(structure), ax, rotation="15x,25y,0z", radii=0.45)
    ax.set_axis_off()
    return _saved(fig, path, dpi=80, pad=0.1)


def funnel_chart(funnel: pd.DataFrame, path: Path) -> Path:
    """Candidates entering each stage and passing it."""
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    y = np.arange(len(funnel))[::-1]
    ax.barh(y, funnel["entered"], color="0.85", label="entered")
    ax.barh(y, funnel["passed"], color="C0", label="passed")
    ax.set_yticks(y, funnel["stage"])
    ax.set_xlabel("candidates")
    ax.legend(fontsize=8, frameon=False)
    return _saved(fig, path)


def _saved(fig, path: Path, dpi: int = 110, pad: float = 1.08) -> Path:
    fig.tight_layout(pad=pad)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
