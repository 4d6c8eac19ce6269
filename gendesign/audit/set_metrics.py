"""Set-level metrics on fingerprints and descriptors: CDVAE's coverage (COV-R/COV-P),
diversity, and Wasserstein distances between distributions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist, pdist
from scipy.stats import wasserstein_distance


@dataclass(frozen=True)
class CompositionStandardizer:
    """Per-feature standardisation of Magpie fingerprints, fit on the reference set."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, fingerprints: np.ndarray) -> CompositionStandardizer:
        mean = np.nanmean(fingerprints, axis=0)
        std = np.nanstd(fingerprints, axis=0)
        # Constant features (e.g. an element property equal over the whole set) carry no scale.
        return cls(mean, np.where(std > 1e-12, std, 1.0))

    def __call__(self, fingerprints: np.ndarray) -> np.ndarray:
        return (fingerprints - self.mean) / self.std


@dataclass(frozen=True)
class Coverage:
    """COV-R: fraction of reference crystals with a generated one within both cutoffs.
    COV-P: generated crystals within both cutoffs of some reference one, over
    ``precision_denominator``."""

    recall: float
    precision: float
    n_generated_with_fingerprints: int
    n_reference_with_fingerprints: int
    precision_denominator: int


def _rows_with_fingerprints(structure_fps: np.ndarray, composition_fps: np.ndarray) -> np.ndarray:
    return np.isfinite(structure_fps).all(axis=1) & np.isfinite(composition_fps).all(axis=1)


def coverage(
    structure_fps: np.ndarray,
    composition_fps: np.ndarray,
    reference_structure_fps: np.ndarray,
    reference_composition_fps: np.ndarray,
    cutoffs: tuple[float, float],
    standardize: CompositionStandardizer,
    precision_denominator: int | None = None,
) -> Coverage:
    """CDVAE's COV-R / COV-P. Rows with a NaN fingerprint (featurisation failed) take
    no part in the distances but still count in ``precision_denominator`` (default:
    the rows that have fingerprints)."""
    keep = _rows_with_fingerprints(structure_fps, composition_fps)
    keep_ref = _rows_with_fingerprints(reference_structure_fps, reference_composition_fps)
    generated_s, generated_c = structure_fps[keep], standardize(composition_fps[keep])
    reference_s = reference_structure_fps[keep_ref]
    reference_c = standardize(reference_composition_fps[keep_ref])
    denominator = precision_denominator if precision_denominator is not None else int(keep.sum())
    if len(generated_s) == 0 or len(reference_s) == 0:
        return Coverage(0.0, 0.0, len(generated_s), len(reference_s), denominator)

    structure_cutoff, composition_cutoff = cutoffs
    structure_distance = cdist(generated_s, reference_s)
    composition_distance = cdist(generated_c, reference_c)
    # As in CDVAE, each fingerprint's nearest distance is taken separately and both
    # must be within their cutoff (the two nearest neighbours may differ).
    recall_hit = (structure_distance.min(axis=0) <= structure_cutoff) & (
        composition_distance.min(axis=0) <= composition_cutoff
    )
    precision_hit = (structure_distance.min(axis=1) <= structure_cutoff) & (
        composition_distance.min(axis=1) <= composition_cutoff
    )
    return Coverage(
        recall=float(recall_hit.mean()),
        precision=float(precision_hit.sum() / max(denominator, 1)),
        n_generated_with_fingerprints=len(generated_s),
        n_reference_with_fingerprints=len(reference_s),
        precision_denominator=denominator,
    )


def mean_pairwise_distance(fingerprints: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows (CDVAE's diversity); NaN rows dropped."""
    rows = fingerprints[np.isfinite(fingerprints).all(axis=1)]
    return float(pdist(rows).mean()) if len(rows) > 1 else float("nan")


def wasserstein(values: np.ndarray, reference: np.ndarray) -> float:
    """1-D Wasserstein (earth mover's) distance between two samples, NaNs dropped."""
    values = np.asarray(values, dtype=float)
    reference = np.asarray(reference, dtype=float)
    values, reference = values[np.isfinite(values)], reference[np.isfinite(reference)]
    if len(values) == 0 or len(reference) == 0:
        return float("nan")
    return float(wasserstein_distance(values, reference))
