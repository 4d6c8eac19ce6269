"""What an audit compares against: the reference set (coverage, distributions) and
every known crystal (novelty), from a named dataset or any readable path."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gendesign.audit.novelty_reference import NoveltyReference, novelty_reference
from gendesign.data.cache import hash_sources
from gendesign.data.crystal_set import CrystalSet
from gendesign.data.datasets import DATASETS, load_dataset
from gendesign.data.fetching import data_path
from gendesign.data.inputs import dataset_split, parse_dataset_spec
from gendesign.data.known_cells import MP20_TRAIN_CACHE
from gendesign.data.readers import read_mattergen_compositions, read_structures
from gendesign.errors import DataRootError, InputError
from gendesign.notices import quiet_third_party

# Structure / composition fingerprint distance cutoffs for COV-R and COV-P (CDVAE).
COVERAGE_CUTOFFS: dict[str, tuple[float, float]] = {
    "mp20": (0.4, 10.0),
    "perov5": (0.2, 4.0),
    "carbon24": (0.2, 4.0),
}
DEFAULT_COVERAGE_DATASET = "mp20"


@dataclass
class AuditReference:
    """Reference crystals for coverage and distribution metrics, plus the known
    crystals that novelty is judged against."""

    label: str  # e.g. "mp20:test" or a path
    crystals: CrystalSet
    novelty: NoveltyReference
    coverage_cutoffs: tuple[float, float]  # (structure, composition) fingerprint distance
    cutoffs_from: str  # which dataset's cutoffs these are
    identity: str  # stable content identity, for the fingerprint cache


def resolve_reference(
    spec: str | Path,
    data_root: str | Path | None = None,
    coverage_cutoffs: tuple[float, float] | None = None,
    known: str | Path | None = None,
) -> AuditReference:
    """A named dataset (test split by default; novelty against every crystal it holds,
    see :mod:`gendesign.audit.novelty_reference`) or a path readable by
    :func:`read_structures` (novelty against the same set); ``known`` adds the user's own
    known crystals to novelty."""
    parsed = parse_dataset_spec(str(spec))
    if parsed is not None:
        name, split = parsed
        prepared = load_dataset(name, data_root=data_root)
        crystals = dataset_split(prepared, split)
        novelty = novelty_reference(name, data_root, known)
        identity = f"{prepared.cache_path.name}:{split}" if prepared.cache_path else name
        label, cutoffs_from = f"{name}:{split}", name
    else:
        path = Path(spec)
        if not path.exists():
            raise InputError(
                f"reference '{spec}' is neither a file or folder nor a dataset "
                f"({', '.join(DATASETS)})"
            )
        crystals = read_structures(path)
        if len(crystals) == 0:
            raise InputError(f"{path}: the reference holds no readable structures")
        identity = hash_sources({"reference": path})
        label = str(path)
        novelty = novelty_reference(None, data_root, known, given=(crystals, label))
        cutoffs_from = DEFAULT_COVERAGE_DATASET
    if coverage_cutoffs is None:
        coverage_cutoffs = COVERAGE_CUTOFFS.get(
            cutoffs_from, COVERAGE_CUTOFFS[DEFAULT_COVERAGE_DATASET]
        )
        if cutoffs_from not in COVERAGE_CUTOFFS:
            cutoffs_from = DEFAULT_COVERAGE_DATASET
    else:
        cutoffs_from = "given"
    return AuditReference(label, crystals, novelty, tuple(coverage_cutoffs), cutoffs_from, identity)


@cache
def mp20_train_formulas(folder: Path) -> frozenset[str]:
    """Reduced formulas of the 27,136 MP-20 training materials (in the MatterGen arrays
    ``folder``)."""
    quiet_third_party()  # noble gases in the compositions
    _, compositions, _ = read_mattergen_compositions(folder)
    formulas = {composition.reduced_formula for composition in compositions}
    return frozenset(formulas)


def known_mp20_formulas(data_root: str | Path | None) -> frozenset[str] | None:
    """:func:`mp20_train_formulas` (fetched if need be), or None when it cannot be had."""
    try:
        return mp20_train_formulas(data_path(MP20_TRAIN_CACHE, data_root))
    except DataRootError:
        return None
