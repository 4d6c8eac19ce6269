"""The audit: per-structure checks, then set-level metrics against a reference.

This module runs the stages in order and times them; each stage has its own module:
:mod:`~gendesign.audit.validity` (the per-structure table), :mod:`~gendesign.audit.uniqueness`
(uniqueness and novelty) and :mod:`~gendesign.audit.reference_comparison` (coverage and
distributions against the reference set).

Protocols differ only in denominators (each is written into the summary):

* ``default``: COV-R and COV-P use the valid structures; COV-P is over the valid
  structures that have fingerprints. Distribution statistics use a seeded draw of
  up to ``n_samples`` valid structures (all of them when fewer).
* ``cdvae``: CDVAE's evaluation. COV-R and COV-P use every structure (valid or
  not) that has fingerprints, and COV-P divides by every input item. Distribution
  statistics use exactly ``n_samples`` (1,000) valid structures drawn without
  replacement; with fewer valid ones, all are used and a note says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gendesign.audit.config import AuditConfig
from gendesign.audit.matching import MATCHER_TOLERANCES
from gendesign.audit.novelty_reference import novelty_reference
from gendesign.audit.reference import resolve_reference
from gendesign.audit.reference_cache import ReferenceProfile, reference_profile
from gendesign.audit.reference_comparison import (
    AuditedSet,
    PropertyPredictor,
    compare_with_reference,
    coverage_wanted,
)
from gendesign.audit.report import write_report
from gendesign.audit.structure_audit import audit_structures, available_workers
from gendesign.audit.summary import AuditSummary, ReferenceInfo, denominators
from gendesign.audit.uniqueness import (
    mark_composition_novelty,
    mark_known_formulas,
    mark_novelty,
    mark_uniqueness,
    uniqueness_summary,
)
from gendesign.audit.validity import (
    oxidation_states_for,
    per_structure_table,
    structures_by_row,
    symmetry_summary,
    validity_summary,
    within_atom_limit,
)
from gendesign.config import validate_config
from gendesign.data.geometry import MIN_INTERATOMIC_DISTANCE_A
from gendesign.data.inputs import AuditInput, load_audit_input

PROTOCOLS = ("default", "cdvae")  # AuditConfig.protocol

# progress(stage, total) -> advance(n): how long-running stages report progress.
Progress = Callable[[str, int], Callable[[int], None]]


def _no_progress(stage: str, total: int) -> Callable[[int], None]:
    return lambda n: None


@dataclass
class AuditResult:
    """Per-structure table (one row per input item, unreadable ones included) and
    the set-level summary."""

    table: pd.DataFrame
    summary: AuditSummary
    reference_profile: ReferenceProfile | None = field(default=None, repr=False)

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write structures.csv, summary.json, report.md and plots/ into ``folder``."""
        return write_report(self.table, self.summary, self.reference_profile, Path(folder))


def audit(
    source: AuditInput,
    config: AuditConfig | None = None,
    *,
    property_predictor: PropertyPredictor | None = None,
    progress: Progress | None = None,
    **options,
) -> AuditResult:
    """Audit a set of crystals.

    ``source``: structures, a CrystalSet, a path (CIF/POSCAR/extxyz folder or file,
    CDVAE CSV, ASE db, generation run folder) or a dataset split such as "mp20:test".
    ``options`` are :class:`AuditConfig` fields and override ``config``; notably
    ``reference``: a dataset name (its test split; novelty against its training
    split), a path, or None for per-structure checks only.
    ``property_predictor`` maps structures to a property table; with it the summary
    gains Wasserstein distances of the predicted properties to the reference's.
    """
    base = config.model_dump() if config is not None else {}
    config = validate_config(AuditConfig, {**base, **options}, source="audit options")
    progress = progress or _no_progress
    workers = config.workers or available_workers()
    timing: dict[str, float] = {}
    started = time.perf_counter()

    with _timed(timing, "checks"):
        crystals = load_audit_input(source, config.data_root, config.max_atoms)
        crystals = within_atom_limit(crystals, config.max_atoms)
        audits = audit_structures(
            crystals.structures,
            workers=workers,
            on_progress=progress("checks", len(crystals)),
            oxidation_states=oxidation_states_for(config.protocol),
            policy=config.oxidation_states,
        )
        table = per_structure_table(crystals, audits)
    summary = AuditSummary(
        input=_describe_source(source, crystals),
        protocol=config.protocol,
        seed=config.seed,
        config=config.model_dump(mode="json"),
        rules={
            "min_interatomic_distance_A": MIN_INTERATOMIC_DISTANCE_A,
            "structure_matcher": MATCHER_TOLERANCES,
            "oxidation_states": oxidation_states_for(config.protocol),
            "oxidation_state_policy": config.oxidation_states,
        },
        **validity_summary(table),
    )
    structures = structures_by_row(crystals, table)

    with _timed(timing, "uniqueness"):
        leader_rows = mark_uniqueness(table, structures, workers)
        has_composition_novelty = mark_composition_novelty(table, config.data_root)
    profile = None
    if config.reference is not None and len(crystals):  # nothing audited: nothing to compare
        audited = AuditedSet(table, audits, structures, leader_rows)
        reference = resolve_reference(
            config.reference, config.data_root, config.coverage_cutoffs, config.known
        )
        with _timed(timing, "novelty"):
            mark_novelty(table, structures, reference.novelty, leader_rows, workers)
            mark_known_formulas(table, config.data_root)
        coverage, why = coverage_wanted(config, int(table["valid"].sum()))
        summary.reference = ReferenceInfo(
            label=reference.label,
            n_structures=len(reference.crystals),
            novelty_against=reference.novelty.label,
            n_novelty_structures=len(reference.novelty),
            coverage=why,
        )
        if coverage:
            with _timed(timing, "reference_profile"):
                profile, from_cache = reference_profile(
                    reference,
                    config.cache_dir,
                    workers,
                    progress("reference fingerprints", len(reference.crystals)),
                )
            summary.reference.profile_from_cache = from_cache
            with _timed(timing, "set_metrics"):
                compare_with_reference(
                    audited, profile, reference, summary, config, property_predictor
                )
    elif config.known is not None:  # no reference set, but known crystals to judge novelty by
        novelty = novelty_reference(None, config.data_root, config.known)
        with _timed(timing, "novelty"):
            mark_novelty(table, structures, novelty, leader_rows, workers)
    for name, value in uniqueness_summary(table, has_composition_novelty).items():
        setattr(summary, name, value)
    summary.symmetry = symmetry_summary(table)
    summary.denominators = denominators(summary, config.protocol)
    timing["total"] = time.perf_counter() - started
    summary.timing_s = {k: round(v, 3) for k, v in timing.items()}
    return AuditResult(table, summary, profile)


@contextmanager
def _timed(timing: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timing[stage] = time.perf_counter() - start


def _describe_source(source: AuditInput, crystals) -> str:
    if isinstance(source, str | Path):
        return str(source)
    return crystals.source or f"{len(crystals)} structures given in memory"
