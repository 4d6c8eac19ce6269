"""Reference-set fingerprints and descriptors, computed once and cached on disk.

Featurising the 9,046 MP-20 test crystals takes minutes; every later audit
against the same reference loads them in well under a second. The cache key
covers the reference's content identity and the featuriser versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matminer
import numpy as np
import pymatgen.core

from gendesign.audit.fingerprints import COMPOSITION_FINGERPRINT_SIZE, STRUCTURE_FINGERPRINT_SIZE
from gendesign.audit.reference import AuditReference
from gendesign.audit.structure_audit import StructureAudit, audit_structures
from gendesign.data.cache import write_atomically
from gendesign.paths import resolve_cache_dir

# Bump when what is stored, or how it is computed, changes.
PROFILE_FORMAT_VERSION = 2  # 2: structure fingerprints per symmetry orbit


@dataclass
class ReferenceProfile:
    """Per reference crystal: fingerprints (NaN rows where featurisation failed),
    density (g/cm³), number of elements and reduced formula."""

    structure_fps: np.ndarray
    composition_fps: np.ndarray
    density_g_cm3: np.ndarray
    n_elements: np.ndarray
    reduced_formulas: list[str]

    @classmethod
    def from_audits(cls, audits: list[StructureAudit]) -> ReferenceProfile:
        return cls(
            structure_fps=stack_fingerprints(
                [a.structure_fp for a in audits], STRUCTURE_FINGERPRINT_SIZE
            ),
            composition_fps=stack_fingerprints(
                [a.composition_fp for a in audits], COMPOSITION_FINGERPRINT_SIZE
            ),
            density_g_cm3=np.array([a.row["density_g_cm3"] for a in audits], dtype=float),
            n_elements=np.array([a.row["n_elements"] for a in audits], dtype=float),
            reduced_formulas=[str(a.row["reduced_formula"]) for a in audits],
        )

    def save(self, path: Path) -> None:
        """Write atomically, so an interrupted run never leaves a half-written cache."""
        arrays = {
            "structure_fps": self.structure_fps,
            "composition_fps": self.composition_fps,
            "density_g_cm3": self.density_g_cm3,
            "n_elements": self.n_elements,
            "reduced_formulas": np.array(self.reduced_formulas, dtype=str),
        }
        write_atomically(path, lambda tmp: np.savez(tmp, **arrays), suffix=".tmp.npz")

    @classmethod
    def load(cls, path: Path) -> ReferenceProfile | None:
        """The cached profile, or None when it is missing or unreadable."""
        try:
            with np.load(path) as data:
                return cls(
                    data["structure_fps"],
                    data["composition_fps"],
                    data["density_g_cm3"],
                    data["n_elements"],
                    data["reduced_formulas"].tolist(),
                )
        except (OSError, KeyError, ValueError):
            return None


def stack_fingerprints(rows: list[np.ndarray | None], width: int) -> np.ndarray:
    """(n, width) array with a NaN row wherever a fingerprint is missing."""
    out = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out


def profile_cache_path(reference: AuditReference, cache_dir: str | Path | None = None) -> Path:
    identity = "|".join(
        (
            reference.identity,
            f"format={PROFILE_FORMAT_VERSION}",
            f"matminer={matminer.__version__}",
            f"pymatgen={pymatgen.core.__version__}",
        )
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:20]
    return resolve_cache_dir(cache_dir) / "audit" / f"reference-{key}.npz"


def reference_profile(
    reference: AuditReference,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[ReferenceProfile, bool]:
    """The reference's profile and whether it came from the cache."""
    path = profile_cache_path(reference, cache_dir)
    cached = ReferenceProfile.load(path)
    if cached is not None and len(cached.reduced_formulas) == len(reference.crystals):
        return cached, True
    audits = audit_structures(
        reference.crystals.structures, workers=workers, on_progress=on_progress
    )
    profile = ReferenceProfile.from_audits(audits)
    profile.save(path)
    return profile, False
