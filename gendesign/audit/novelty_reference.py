"""What "novel" is judged against: every known crystal of a dataset, plus the user's own.

For ``mp20`` that is all three MP-20 splits: val and test (positions known) by
StructureMatcher, and the 27,136 train crystals (no positions) by formula and cell
(:mod:`gendesign.data.known_cells`). Other datasets contribute every split they
ship. A user adds their own known crystals (a folder of CIFs, an ASE database, any
input :func:`gendesign.data.readers.read_structures` reads) with ``--known PATH`` /
``audit.known``. A match is the novelty class ``known``, with the matched id and the
set it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pymatgen.core import Structure

from gendesign.audit.matching import NoveltyMatch, novelty_classes
from gendesign.data.crystal_set import CrystalSet
from gendesign.data.datasets import DATASETS, load_dataset
from gendesign.data.fetching import data_path
from gendesign.data.known_cells import MP20_TRAIN_CACHE, KnownCells, mattergen_cells
from gendesign.data.known_crystals import KnownCrystals, known_crystals
from gendesign.data.readers import read_structures
from gendesign.errors import InputError


@dataclass
class NoveltyReference:
    """Known crystals with positions (StructureMatcher) and, where a dataset has them,
    known cells without positions (formula and cell)."""

    label: str  # says what is covered, e.g. "mp20 train (formula + cell), val, test"
    structures: KnownCrystals
    cells: KnownCells | None = None

    def __len__(self) -> int:
        return len(self.structures) + (len(self.cells) if self.cells is not None else 0)

    def classify(self, structures: Sequence[Structure], workers: int = 1) -> list[NoveltyMatch]:
        """The novelty class of each structure (see :class:`NoveltyMatch`)."""
        return novelty_classes(structures, self.structures, workers, self.cells)


def novelty_reference(
    dataset: str | None,
    data_root: str | Path | None = None,
    known: str | Path | None = None,
    given: tuple[CrystalSet, str] | None = None,
) -> NoveltyReference:
    """Every known crystal of ``dataset`` (may be None), those read from ``known``, and a
    ``given`` (crystals, label) set such as a reference read from a path."""
    if dataset is None and known is None and given is None:
        raise InputError("novelty needs a dataset or a --known set of crystals")
    parts: list[tuple[CrystalSet, str]] = []
    labels, cells = [], None
    if given is not None:
        parts.append(given)
        labels.append(given[1])
    if dataset is not None:
        dataset_parts, cells = _dataset_parts(dataset, data_root)
        parts += dataset_parts
        labels.append(
            f"{dataset} "
            + ", ".join(sorted({split for _, split in dataset_parts}))
            + (f" + {cells.label} by formula and cell ({len(cells):,})" if cells else "")
        )
    if known is not None:
        user = read_known_set(known)
        parts.append((user, f"known:{Path(known).name}"))
        labels.append(f"{Path(known).name} ({len(user):,})")
    crystals = CrystalSet.concat([crystals for crystals, _ in parts])
    splits = [split for part, split in parts for _ in range(len(part))]
    described = known_crystals(crystals, "+".join(labels), splits=splits, full=False)
    return NoveltyReference(" + ".join(labels), described, cells)


def read_known_set(path: str | Path) -> CrystalSet:
    """A user's known crystals, or one sentence why they cannot be read."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"--known {path}: no such file or folder")
    crystals = read_structures(path)
    if len(crystals) == 0:
        raise InputError(f"--known {path}: no readable crystal structures in it")
    return crystals


def _dataset_parts(
    dataset: str, data_root: str | Path | None
) -> tuple[list[tuple[CrystalSet, str]], KnownCells | None]:
    if dataset not in DATASETS:
        raise InputError(f"unknown novelty dataset '{dataset}'; choose from {', '.join(DATASETS)}")
    prepared = load_dataset(dataset, data_root=data_root)
    parts = [
        (prepared.crystal_set(split), f"{dataset}:{prepared.published_splits[split]}")
        for split in prepared.splits
    ]
    cells = None
    if prepared.protocol == "mp20-reduced":  # MP-20 train is known by its cells only
        cells = mattergen_cells(data_path(MP20_TRAIN_CACHE, data_root), "mp20:train")
    return parts, cells


@lru_cache(maxsize=4)
def cached_novelty_reference(
    dataset: str | None, data_root: str | None, known: str | None
) -> NoveltyReference:
    """:func:`novelty_reference`, built once per process."""
    return novelty_reference(dataset, data_root, known)
