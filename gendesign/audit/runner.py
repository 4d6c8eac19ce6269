"""The audit: per-structure checks, then set-level metrics against a reference.

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
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from gendesign.audit.config import MIN_COVERAGE_SET, AuditConfig
from gendesign.audit.fingerprints import COMPOSITION_FINGERPRINT_SIZE, STRUCTURE_FINGERPRINT_SIZE
from gendesign.audit.matching import (
    MATCHER_TOLERANCES,
    MATCHING_MAX_ATOMS,
    NOVELTY_CLASSES,
    duplicate_of,
)
from gendesign.audit.novelty_reference import NoveltyReference, novelty_reference
from gendesign.audit.reference import AuditReference, known_mp20_formulas, resolve_reference
from gendesign.audit.reference_cache import ReferenceProfile, reference_profile, stack_fingerprints
from gendesign.audit.report import write_report
from gendesign.audit.set_metrics import (
    CompositionStandardizer,
    coverage,
    mean_pairwise_distance,
    wasserstein,
)
from gendesign.audit.structure_audit import (
    AUDIT_COLUMNS,
    StructureAudit,
    audit_structures,
    available_workers,
)
from gendesign.audit.summary import (
    AuditSummary,
    Counts,
    Coverage,
    Distribution,
    ReferenceInfo,
    Symmetry,
    Validity,
)
from gendesign.config import validate_config
from gendesign.data.crystal_set import CrystalSet, SkippedItem
from gendesign.data.geometry import MIN_INTERATOMIC_DISTANCE_A
from gendesign.data.inputs import AuditInput, load_audit_input

PROTOCOLS = ("default", "cdvae")  # AuditConfig.protocol
CDVAE_SAMPLE_SIZE = 1000

# Maps structures to a table of predicted properties (one column per property).
PropertyPredictor = Callable[[Sequence[Structure]], pd.DataFrame]
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
        crystals = _within_atom_limit(load_audit_input(source, config.data_root), config.max_atoms)
        audits = audit_structures(
            crystals.structures,
            workers=workers,
            on_progress=progress("checks", len(crystals)),
            oxidation_states=oxidation_states_for(config.protocol),
        )
        table = _per_structure_table(crystals, audits)
    summary = AuditSummary(
        input=_describe_source(source, crystals),
        protocol=config.protocol,
        seed=config.seed,
        config=config.model_dump(mode="json"),
        rules={
            "min_interatomic_distance_A": MIN_INTERATOMIC_DISTANCE_A,
            "structure_matcher": MATCHER_TOLERANCES,
            "oxidation_states": oxidation_states_for(config.protocol),
        },
        **_validity_summary(table),
    )
    structures = _structures_by_row(crystals, table)

    with _timed(timing, "uniqueness"):
        leader_rows = _mark_uniqueness(table, structures, workers)
        has_composition_novelty = _mark_composition_novelty(table, config.data_root)
    profile = None
    if config.reference is not None:
        audited = _AuditedSet(table, audits, structures, leader_rows)
        reference = resolve_reference(
            config.reference, config.data_root, config.coverage_cutoffs, config.known
        )
        with _timed(timing, "novelty"):
            _mark_novelty(table, structures, reference.novelty, leader_rows, workers)
        coverage, why = _coverage_wanted(config, int(table["valid"].sum()))
        summary.reference = ReferenceInfo(
            label=reference.label,
            n_structures=len(reference.crystals),
            novelty_against=reference.novelty.label,
            n_novelty_structures=len(reference.novelty),
            coverage=why,
        )
        if coverage:
            profile = _compare_with_reference(
                audited, reference, summary, config, workers, property_predictor, progress, timing
            )
    elif config.known is not None:  # no reference set, but known crystals to judge novelty by
        novelty = novelty_reference(None, config.data_root, config.known)
        with _timed(timing, "novelty"):
            _mark_novelty(table, structures, novelty, leader_rows, workers)
    for name, value in _uniqueness_summary(table, has_composition_novelty).items():
        setattr(summary, name, value)
    summary.symmetry = _symmetry_summary(table)
    summary.denominators = _denominators(summary, config.protocol)
    timing["total"] = time.perf_counter() - started
    summary.timing_s = {k: round(v, 3) for k, v in timing.items()}
    return AuditResult(table, summary, profile)


@contextmanager
def _timed(timing: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timing[stage] = time.perf_counter() - start


@dataclass
class _AuditedSet:
    """The per-structure results that the set-level metrics read, aligned by row."""

    table: pd.DataFrame
    audits: list[StructureAudit]  # rows of readable structures come first
    structures: list[Structure | None]  # None for unreadable rows
    leader_rows: np.ndarray  # row of the first matching structure; -1 when invalid


def _coverage_wanted(config: AuditConfig, valid: int) -> tuple[bool, str]:
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


def _compare_with_reference(
    audited: _AuditedSet,
    reference: AuditReference,
    summary: AuditSummary,
    config: AuditConfig,
    workers: int,
    predictor: PropertyPredictor | None,
    progress: Progress,
    timing: dict[str, float],
) -> ReferenceProfile:
    """Coverage and distribution metrics against ``reference``; fills ``summary`` and
    returns the reference profile."""
    with _timed(timing, "reference_profile"):
        profile, from_cache = reference_profile(
            reference,
            config.cache_dir,
            workers,
            progress("reference fingerprints", len(reference.crystals)),
        )
    summary.reference.profile_from_cache = from_cache
    table, audits = audited.table, audited.audits
    valid = np.flatnonzero(table["valid"].to_numpy(dtype=bool))
    sample = _draw_sample(valid, config.protocol, config.n_samples, config.seed, summary.notes)
    with _timed(timing, "set_metrics"):
        fingerprints = _fingerprint_arrays(table, audits)
        standardize = CompositionStandardizer.fit(profile.composition_fps)
        summary.coverage = _coverage_summary(
            table, fingerprints, standardize, profile, reference, config.protocol
        )
        summary.distribution = _distribution_summary(
            table,
            fingerprints,
            standardize,
            profile,
            sample,
            audited.structures,
            reference,
            predictor,
        )
    return profile


# --------------------------------------------------------------------------- per structure


NOT_AUDITED = "not audited"  # the reason's start for a readable structure left out


def _within_atom_limit(crystals: CrystalSet, max_atoms: int) -> CrystalSet:
    """``crystals`` with each structure of more than ``max_atoms`` atoms moved to the
    skipped items, with the reason."""
    small = [k for k, structure in enumerate(crystals.structures) if len(structure) <= max_atoms]
    if len(small) == len(crystals):
        return crystals
    kept = crystals.subset(small)
    for k in sorted(set(range(len(crystals))) - set(small)):
        kept.skipped.append(
            SkippedItem(
                crystals.source or "input",
                crystals.ids[k],
                f"{NOT_AUDITED}: {len(crystals.structures[k]):,} atoms, more than the limit "
                f"of {max_atoms:,} (audit option max_atoms)",
            )
        )
    return kept


def _per_structure_table(crystals, audits: list[StructureAudit]) -> pd.DataFrame:
    rows = [{"id": item_id, **a.row} for item_id, a in zip(crystals.ids, audits, strict=True)]
    for item in crystals.skipped:
        rows.append(
            {
                "id": item.item_id,
                "readable": False,
                "lattice_ok": False,
                "struct_valid": False,
                "comp_valid": False,
                "valid": False,
                "reason": item.reason
                if item.reason.startswith(NOT_AUDITED)
                else f"unreadable: {item.reason} ({item.source})",
            }
        )
    # every column exists even when nothing was readable, so each stage and report can
    # read an empty or all-unreadable table
    table = pd.DataFrame(rows)
    return table.reindex(columns=list(dict.fromkeys(["id", *AUDIT_COLUMNS, *table.columns])))


def _structures_by_row(crystals, table: pd.DataFrame) -> list[Structure | None]:
    return list(crystals.structures) + [None] * (len(table) - len(crystals.structures))


def oxidation_states_for(protocol: str) -> str:
    """SMACT oxidation-state list of a protocol: CDVAE evaluated with the 2014 list."""
    return "smact14" if protocol == "cdvae" else "icsd24"


def _validity_summary(table: pd.DataFrame) -> dict:
    n = len(table)
    fraction = {
        column: float(table[column].astype(bool).mean()) if n else float("nan")
        for column in ("readable", "lattice_ok", "struct_valid", "comp_valid", "valid")
    }
    reasons = Counter(r for r in table["reason"].fillna("") if r)
    missing = Counter(
        element
        for value in table.get("no_oxidation_data", pd.Series(dtype=str)).fillna("")
        for element in str(value).split(";")
        if element
    )
    icsd24 = "comp_valid_icsd24" in table and n
    return {
        "n_items": n,
        "counts": Counts(**{c: int(table[c].astype(bool).sum()) for c in fraction}),
        "validity": Validity(
            readable=fraction["readable"],
            lattice=fraction["lattice_ok"],
            structural=fraction["struct_valid"],
            compositional=fraction["comp_valid"],
            overall=fraction["valid"],
            compositional_icsd24=float(table["comp_valid_icsd24"].astype(bool).mean())
            if icsd24
            else None,
        ),
        "failure_reasons": dict(reasons.most_common(15)),
        "elements_without_oxidation_data": dict(missing),
    }


# --------------------------------------------------------------------------- uniqueness, novelty


def _mark_uniqueness(table, structures, workers: int) -> np.ndarray:
    """Fill ``unique`` and ``duplicate_of`` (an id) for valid rows; return for every row
    the row of the first structure it matches (-1 for invalid rows, and for rows too
    large to compare, which ``match_note`` names)."""
    valid = table["valid"].to_numpy(dtype=bool)
    large = valid & (table["n_atoms"].fillna(0).to_numpy() > MATCHING_MAX_ATOMS)
    valid = np.flatnonzero(valid & ~large)
    leader_rows = np.full(len(table), -1)
    table["unique"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    table["duplicate_of"] = ""
    table["match_note"] = np.where(
        large,
        f"not compared with other crystals: more than {MATCHING_MAX_ATOMS} atoms "
        "(StructureMatcher's primitive-cell search would take minutes)",
        "",
    )
    if len(valid) == 0:
        return leader_rows
    formulas = table["reduced_formula"].to_numpy()[valid].tolist()
    first = duplicate_of([structures[i] for i in valid], formulas, workers)
    leader_rows[valid] = valid[first]
    ids = table["id"].astype(str).to_numpy()
    table.loc[valid, "unique"] = leader_rows[valid] == valid
    duplicates = valid[leader_rows[valid] != valid]
    table.loc[duplicates, "duplicate_of"] = ids[leader_rows[duplicates]]
    return leader_rows


def _mark_composition_novelty(table: pd.DataFrame, data_root) -> bool:
    """Flag reduced formulas absent from MP-20 train; False when that data is not found."""
    known = known_mp20_formulas(data_root)
    if known is None:
        return False
    readable = table["readable"].to_numpy(dtype=bool)
    column = pd.Series(pd.NA, index=table.index, dtype="boolean")
    column[readable] = ~table.loc[readable, "reduced_formula"].isin(known)
    table["novel_composition_mp20_train"] = column
    return True


def _mark_novelty(
    table, structures, novelty: NoveltyReference, leader_rows: np.ndarray, workers: int
) -> None:
    """``novelty_class`` (known, substitution-derived, novel-framework), ``matched_id``,
    ``matched_split`` and ``novel`` (not known) for valid rows: judged once per unique
    structure, copied to its duplicates."""
    table["novel"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    for name in ("novelty_class", "matched_id", "matched_split"):
        table[name] = ""
    leaders = np.flatnonzero(leader_rows == np.arange(len(table)))
    if len(leaders) == 0:
        return
    matches = novelty.classify([structures[i] for i in leaders], workers)
    found = {
        "novelty_class": [m.novelty_class for m in matches],
        "matched_id": [m.matched_id or "" for m in matches],
        "matched_split": [m.matched_split or "" for m in matches],
    }
    valid = np.flatnonzero(leader_rows >= 0)
    for name, values in found.items():
        column = np.full(len(table), "", dtype=object)
        column[leaders] = values
        table.loc[valid, name] = column[leader_rows[valid]]
    table.loc[valid, "novel"] = table.loc[valid, "novelty_class"] != "known"


def _uniqueness_summary(table: pd.DataFrame, has_composition_novelty: bool) -> dict:
    valid = table["valid"].astype(bool)
    n_valid = int(valid.sum())
    unique = table["unique"].fillna(False).astype(bool)
    out: dict = {
        "uniqueness": float(unique.sum() / n_valid) if n_valid else float("nan"),
        "n_unique": int(unique.sum()),
    }
    if "novel" in table:
        novel_unique = unique & table["novel"].fillna(False).astype(bool)
        out["novelty"] = float(novel_unique.sum() / unique.sum()) if unique.sum() else float("nan")
        out["n_unique_novel"] = int(novel_unique.sum())
        classes = table.loc[unique, "novelty_class"]
        out["novelty_classes"] = {
            name: float((classes == name).sum() / unique.sum()) if unique.sum() else float("nan")
            for name in NOVELTY_CLASSES
        }
    if has_composition_novelty:
        novel_comp = table["novel_composition_mp20_train"].fillna(False).astype(bool) & valid
        out["composition_novelty_mp20_train"] = (
            float(novel_comp.sum() / n_valid) if n_valid else float("nan")
        )
    return out


# --------------------------------------------------------------------------- set metrics


def _draw_sample(
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


def _fingerprint_arrays(
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


def _coverage_summary(
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


def _distribution_summary(
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


def _symmetry_summary(table: pd.DataFrame) -> Symmetry | None:
    valid = table[table["valid"].astype(bool)]
    if valid.empty:
        return None
    systems = valid["crystal_system"].fillna("none").value_counts(normalize=True)
    loose = valid["spacegroup_0.1"]
    return Symmetry(
        crystal_systems={k: float(v) for k, v in systems.items()},
        fraction_p1=float((loose == 1).mean()),
        n_space_groups=int(loose.dropna().nunique()),
    )


def _denominators(summary: AuditSummary, protocol: str) -> dict[str, str]:
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


def _describe_source(source: AuditInput, crystals) -> str:
    if isinstance(source, str | Path):
        return str(source)
    return crystals.source or f"{len(crystals)} structures given in memory"
