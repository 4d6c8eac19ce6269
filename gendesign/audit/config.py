"""Options of an audit run (also written beside its outputs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gendesign.audit.composition import DEFAULT_POLICY, OxidationPolicy
from gendesign.config import StrictConfig

MIN_COVERAGE_SET = 100  # valid structures from which "auto" computes coverage


class AuditConfig(StrictConfig):
    """How to audit: what to compare against and which denominators to use."""

    reference: str | None = "mp20"  # dataset name ("mp20", "mp20:test"), a path, or None
    # more known crystals for novelty (a CIF folder, an ASE db, ...): matches count as known
    known: str | None = None
    # Coverage (COV-R/P) and distribution distances against the reference: "auto" computes
    # them for sets of at least MIN_COVERAGE_SET valid structures (they mean little for
    # fewer, and the reference's fingerprints take minutes the first time); "on" always.
    coverage: Literal["auto", "on", "off"] = "auto"
    # denominators: "default" (valid structures, a seeded draw) or "cdvae" (CDVAE's: COV over
    # every item, distribution statistics on exactly n_samples valid ones)
    protocol: Literal["default", "cdvae"] = "default"
    # what "balanced" means (common, icsd, permissive; see gendesign.audit.composition):
    # the generator and the template sources follow the same policy
    oxidation_states: OxidationPolicy = DEFAULT_POLICY
    n_samples: int = Field(1000, gt=0)  # valid structures drawn for distribution statistics
    seed: int = 0  # seeds that draw
    workers: int | None = Field(None, gt=0)  # processes; default all available cores
    # Larger structures are declined (listed with the reason, not audited): up to this size
    # a cell is audited within a minute on 2 cores (BENCHMARKS.md, "Large inputs": 5,184
    # atoms 36 s, 5,832 atoms 62 s; three spglib searches and the sampled site
    # fingerprints take most of it)
    max_atoms: int = Field(5_000, gt=0)
    data_root: str | None = (
        None  # mirror folder or URL; None: GENDESIGN_DATA, ../shared/data, else fetched
    )
    cache_dir: str | None = None  # where reference fingerprints are cached
    # (structure, composition) fingerprint distance cutoffs; default from the reference dataset
    coverage_cutoffs: tuple[float, float] | None = None
