"""The set-level results of an audit as typed records (fractions in [0, 1]).

:class:`AuditSummary` is what :func:`gendesign.audit.audit` returns beside the
per-structure table; the report, the CLI and the benchmarks read it by
attribute. ``to_dict()`` gives the plain form written as ``summary.json`` (the
same keys as the attributes; sections that were not computed are left out).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Counts:
    """How many items passed each check (out of ``AuditSummary.n_items``)."""

    readable: int
    lattice_ok: int
    struct_valid: int
    comp_valid: int
    valid: int


@dataclass
class Validity:
    """Shares of all items: read, sane lattice, no atoms closer than 0.5 Å (structural),
    charge-neutral by SMACT (compositional, with the protocol's oxidation states), all."""

    readable: float
    lattice: float
    structural: float
    compositional: float
    overall: float
    compositional_icsd24: float | None = None  # the stricter list, beside the protocol's
    balanced: float | None = None  # charge balanced under the oxidation-state policy


@dataclass
class ReferenceInfo:
    """What the set was compared with, and whether coverage was computed (in words)."""

    label: str
    n_structures: int
    novelty_against: str
    n_novelty_structures: int
    coverage: str
    profile_from_cache: bool | None = None  # None: no profile was needed


@dataclass
class Coverage:
    """COV-R (recall: reference structures matched) and COV-P (precision: generated ones
    that match a reference structure), CDVAE's fingerprint-distance definition."""

    cov_recall: float
    cov_precision: float
    structure_cutoff: float
    composition_cutoff: float
    cutoffs_from: str
    n_generated_with_fingerprints: int
    n_reference_with_fingerprints: int
    precision_denominator: int


@dataclass
class Distribution:
    """Wasserstein distances to the reference (density in g/cm³, number of elements)
    and diversities, on a seeded draw of ``n_sample`` valid structures."""

    n_sample: int
    wdist_density: float
    wdist_n_elements: float
    struct_diversity: float
    comp_diversity: float
    property_wdist: dict[str, float] | None = None  # with a property predictor


@dataclass
class Symmetry:
    """Of the valid structures, at symprec 0.1 Å."""

    crystal_systems: dict[str, float]
    fraction_p1: float
    n_space_groups: int


@dataclass
class AuditSummary:
    input: str
    protocol: str
    seed: int
    config: dict
    rules: dict
    n_items: int
    counts: Counts
    validity: Validity
    failure_reasons: dict[str, int]  # the 15 commonest, with their counts
    elements_without_oxidation_data: dict[str, int]
    uniqueness: float = float("nan")  # of valid structures
    n_unique: int = 0
    novelty: float | None = None  # of unique structures: no duplicate of a known crystal
    n_unique_novel: int | None = None
    novelty_classes: dict[str, float] | None = None  # share of unique structures per class
    composition_novelty_mp20_train: float | None = None  # of valid structures
    reference: ReferenceInfo | None = None
    coverage: Coverage | None = None
    distribution: Distribution | None = None
    symmetry: Symmetry | None = None
    denominators: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timing_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The plain form (``summary.json``); sections not computed are left out."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def denominators(summary: AuditSummary, protocol: str) -> dict[str, str]:
    n_items, n_valid, n_unique = summary.n_items, summary.counts.valid, summary.n_unique
    out = {
        "validity": f"all {n_items} input items (unreadable ones count as invalid)",
        "uniqueness": f"{n_valid} valid structures",
        "novelty": f"{n_unique} unique valid structures",
        "novelty_classes": f"{n_unique} unique valid structures",
        "composition_novelty_mp20_train": f"{n_valid} valid structures",
    }
    cov = summary.coverage
    if cov is not None:
        pool = (
            "all structures with fingerprints"
            if protocol == "cdvae"
            else "valid structures with fingerprints"
        )
        out["cov_recall"] = (
            f"{cov.n_reference_with_fingerprints} reference structures, matched by {pool}"
        )
        out["cov_precision"] = (
            f"{cov.precision_denominator} ({'all input items' if protocol == 'cdvae' else pool})"
        )
        out["distribution"] = (
            f"{summary.distribution.n_sample} valid structures (seeded draw, seed "
            f"{summary.seed}) vs all {summary.reference.n_structures} reference structures"
        )
    return out
