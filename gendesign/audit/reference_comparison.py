"""Coverage and distribution metrics of the valid structures against a reference set
(CDVAE's COV-R / COV-P, Wasserstein distances of density, element counts and
predicted properties, fingerprint diversity), with each protocol's denominators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from gendesign.audit.config import MIN_COVERAGE_SET, AuditConfig
from gendesign.audit.fingerprints import COMPOSITION_FINGERPRINT_SIZE, STRUCTURE_FINGERPRINT_SIZE
from gendesign.audit.reference import AuditReference
from gendesign.audit.reference_cache import ReferenceProfile, stack_fingerprints
from gendesign.audit.set_metrics import (
    CompositionStandardizer,
    coverage,
    mean_pairwise_distance,
    wasserstein,
)
from gendesign.audit.structure_audit import StructureAudit
from gendesign.audit.summary import AuditSummary, Coverage, Distribution

# Maps structures to a table of predicted properties (one column per property).
PropertyPredictor = Callable[[Sequence[Structure]], pd.DataFrame]


@dataclass
class AuditedSet:
    """The per-structure results that the set-level metrics read, aligned by row."""

    table: pd.DataFrame
    audits: list[StructureAudit]  # rows of readable structures come first
    structures: list[Structure | None]  # None for unreadable rows
    leader_rows: np.ndarray  # row of the first matching structure; -1 when invalid


def coverage_wanted(config: AuditConfig, valid: int) -> tuple[bool, str]:
    """Whether to compute coverage and distribution metrics, and why, in words."""
    if config.coverage == "on":
        return True, "computed (asked for)"
    if config.coverage == "off":
        return False, "not computed (turned off)"
    if valid >= MIN_COVERAGE_SET:
        return True, f"computed ({valid} valid structures, at least {MIN_COVERAGE_SET})"
    return False, (
        f"not computed: {valid} valid structures, fewer than the {MIN_COVERAGE_SET} that make "
        "coverage meaningful (--coverage computes it anyway)"
    )


def compare_with_reference(
    audited: AuditedSet,
    profile: ReferenceProfile,
    reference: AuditReference,
    summary: AuditSummary,
    config: AuditConfig,
    predictor: PropertyPredictor | None,
) -> None:
    """Fill ``summary``'s coverage and distribution sections from the audited set and
    the reference's profile (its fingerprints and property distributions)."""
    table, audits = audited.table, audited.audits
    valid = np.flatnonzero(table["valid"].to_numpy(dtype=bool))
    sample = draw_sample(valid, config.protocol, config.n_samples, config.seed, summary.notes)
    fingerprints = fingerprint_arrays(table, audits)
    standardize = CompositionStandardizer.fit(profile.composition_fps)
    summary.coverage = coverage_summary(
        table, fingerprints, standardize, profile, reference, config.protocol
    )
    summary.distribution = distribution_summary(
        table, fingerprints, standardize, profile, sample, audited.structures, reference, predictor
    )


def draw_sample(
    valid: np.ndarray, protocol: str, n_samples: int, seed: int, notes: list
) -> np.ndarray:
    if len(valid) >= n_samples:
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(valid, size=n_samples, replace=False))
    if protocol == "cdvae":
        notes.append(
            f"the cdvae protocol evaluates {n_samples} valid structures but only {len(valid)} "
            "are valid; distribution statistics use all of them (CDVAE itself stops here)"
        )
    return valid


def fingerprint_arrays(
    table: pd.DataFrame, audits: list[StructureAudit]
) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints aligned with the table rows (NaN for unreadable/failed rows)."""
    padding = [None] * (len(table) - len(audits))
    structure_fps = stack_fingerprints(
        [a.structure_fp for a in audits] + padding, STRUCTURE_FINGERPRINT_SIZE
    )
    composition_fps = stack_fingerprints(
        [a.composition_fp for a in audits] + padding, COMPOSITION_FINGERPRINT_SIZE
    )
    return structure_fps, composition_fps


def coverage_summary(
    table: pd.DataFrame,
    fingerprints: tuple[np.ndarray, np.ndarray],
    standardize: CompositionStandardizer,
    profile: ReferenceProfile,
    reference: AuditReference,
    protocol: str,
) -> Coverage:
    structure_fps, composition_fps = fingerprints
    if protocol == "cdvae":
        rows = np.arange(len(table))
        denominator = len(table)
    else:
        rows = np.flatnonzero(table["valid"].to_numpy(dtype=bool))
        denominator = None
    result = coverage(
        structure_fps[rows],
        composition_fps[rows],
        profile.structure_fps,
        profile.composition_fps,
        reference.coverage_cutoffs,
        standardize,
        denominator,
    )
    return Coverage(
        cov_recall=result.recall,
        cov_precision=result.precision,
        structure_cutoff=reference.coverage_cutoffs[0],
        composition_cutoff=reference.coverage_cutoffs[1],
        cutoffs_from=reference.cutoffs_from,
        n_generated_with_fingerprints=result.n_generated_with_fingerprints,
        n_reference_with_fingerprints=result.n_reference_with_fingerprints,
        precision_denominator=result.precision_denominator,
    )


def distribution_summary(
    table, fingerprints, standardize, profile, sample, structures, reference, predictor
) -> Distribution:
    structure_fps, composition_fps = fingerprints
    density = table["density_g_cm3"].to_numpy(dtype=float)
    n_elements = table["n_elements"].to_numpy(dtype=float)
    out = Distribution(
        n_sample=len(sample),
        wdist_density=wasserstein(density[sample], profile.density_g_cm3),
        wdist_n_elements=wasserstein(n_elements[sample], profile.n_elements),
        struct_diversity=mean_pairwise_distance(structure_fps[sample]),
        comp_diversity=mean_pairwise_distance(standardize(composition_fps[sample])),
    )
    if predictor is not None and len(sample):
        predicted = predictor([structures[i] for i in sample])
        predicted_reference = predictor(reference.crystals.structures)
        out.property_wdist = {
            column: wasserstein(
                predicted[column].to_numpy(), predicted_reference[column].to_numpy()
            )
            for column in predicted.columns
            if column in predicted_reference
        }
    return out
