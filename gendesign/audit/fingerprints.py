"""CDVAE's fingerprints: CrystalNN site fingerprints ("ops" preset, averaged over
sites) for structure and Magpie element-property statistics for composition."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
from matminer.featurizers.composition import ElementProperty
from matminer.featurizers.site import CrystalNNFingerprint
from pymatgen.core import Structure

STRUCTURE_FINGERPRINT_SIZE = 61
COMPOSITION_FINGERPRINT_SIZE = 132


@cache
def _site_featurizer() -> CrystalNNFingerprint:
    return CrystalNNFingerprint.from_preset("ops")


@cache
def _composition_featurizer() -> ElementProperty:
    return ElementProperty.from_preset("magpie")


def structure_fingerprint(structure: Structure) -> np.ndarray:
    """Mean CrystalNN "ops" fingerprint over sites, shape (61,)."""
    featurizer = _site_featurizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CrystalNN warns about missing oxidation states
        sites = [featurizer.featurize(structure, i) for i in range(len(structure))]
    return np.asarray(sites, dtype=np.float64).mean(axis=0)


def composition_fingerprint(structure: Structure) -> np.ndarray:
    """Magpie element-property statistics of the composition, shape (132,)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = _composition_featurizer().featurize(structure.composition)
    return np.asarray(values, dtype=np.float64)
