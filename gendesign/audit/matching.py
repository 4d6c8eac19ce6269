"""Uniqueness within a set and novelty against the known crystals, by StructureMatcher.

Known crystals with positions are compared by StructureMatcher; those known only by
formula and cell (MP-20's train split) by :class:`gendesign.data.known_cells.KnownCells`.

Two structures can only match when their reduced formulas agree and, since the
matcher reduces both to primitive cells and does not try supercells, when their
primitive cells hold the same number of sites. Both checks therefore compare
only within such (formula, primitive sites) groups; primitive cells are found
only where a formula occurs more than once, so most crystals never need one.

A structure is substitution-derived only from a known crystal of its own prototype
(space group and Wyckoff letters per element, elements anonymous). Within a group, each
structure is reduced once, and a pair is fitted only when the matcher's own lattice search (pymatgen's ``Lattice.find_all_mappings`` at its
tolerances) finds a lattice of one onto the other: without one no fit can succeed, for
any assignment of species, so the verdicts are the matcher's own at a fraction of its
cost (most pairs of a framework differ in their cells).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from joblib import Parallel, delayed
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from gendesign.data.known_crystals import prototype_label, reduced_cell

if TYPE_CHECKING:
    from gendesign.data.known_cells import KnownCells
    from gendesign.data.known_crystals import KnownCrystals

# pymatgen's default tolerances, the ones used by DiffCSP and MatterGen for S.U.N. counts.
MATCHER_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}
# Larger structures are not compared with others (duplicates, novelty): StructureMatcher
# first searches each one's primitive cell, which takes minutes for a large cell of low
# symmetry (3 min for 1,000 atoms on one core).
MATCHING_MAX_ATOMS = 500
# Below this many structures to compare, worker start-up costs more than it saves.
_MIN_STRUCTURES_FOR_WORKERS = 256


def _matcher() -> StructureMatcher:
    return StructureMatcher(**MATCHER_TOLERANCES)


def unit_lattice(structure: Structure) -> Lattice:
    """``structure``'s lattice scaled to unit volume. The matcher compares two lattices
    at one common volume, and whether one maps onto the other within its fractional
    length and angle tolerances does not depend on which volume that is."""
    return Lattice(structure.lattice.matrix / structure.volume ** (1 / 3))


def lattices_can_match(first: Lattice, second: Lattice) -> bool:
    """Whether StructureMatcher's lattice search finds a lattice of ``first`` (the
    structure fitted) onto ``second`` (the one it is fitted to) with the same cell volume,
    at :data:`MATCHER_TOLERANCES`; if not, ``fit`` and ``fit_anonymous`` are False."""
    mappings = first.find_all_mappings(
        second,
        ltol=MATCHER_TOLERANCES["ltol"],
        atol=MATCHER_TOLERANCES["angle_tol"],
        skip_rotation_matrix=True,
    )
    return any(abs(abs(np.linalg.det(scale)) - 1) < 0.5 for _, _, scale in mappings)


def primitive_site_count(structure: Structure) -> int:
    """Sites in the primitive cell, found the way StructureMatcher finds it."""
    return len(structure.get_primitive_structure())


def _cluster(structures: Sequence[Structure]) -> list[int]:
    """Cluster label (0..k-1, first member first) for each structure of one group."""
    matcher = _matcher()
    representatives: list[tuple[Structure, Lattice]] = []
    labels = []
    for structure in structures:
        reduced = reduced_cell(structure)
        lattice = unit_lattice(reduced)
        for label, (representative, its_lattice) in enumerate(representatives):
            if lattices_can_match(its_lattice, lattice) and matcher.fit(
                representative, reduced, skip_structure_reduction=True
            ):
                labels.append(label)
                break
        else:
            labels.append(len(representatives))
            representatives.append((reduced, lattice))
    return labels


def _matches_any(structures: Sequence[Structure], known: Sequence[Structure]) -> list[bool]:
    matcher = _matcher()
    return [any(matcher.fit(s, k) for k in known) for s in structures]


def _groups(keys: Sequence) -> dict[object, list[int]]:
    groups: dict[object, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        groups[key].append(index)
    return groups


def _refine_by_primitive_sites(
    structures: Sequence[Structure], formulas: Sequence[str], needed: set[str]
) -> list[tuple[str, int]]:
    """(formula, primitive sites) keys; the site count is only computed for ``needed``
    formulas (elsewhere it is 0, as those structures have nobody to be compared with)."""
    return [
        (formula, primitive_site_count(structure) if formula in needed else 0)
        for structure, formula in zip(structures, formulas, strict=True)
    ]


def _run(tasks: list, workers: int) -> list:
    """Call each ``(function, args)``; in worker processes when the work is large."""
    size = sum(len(args[0]) for _, args in tasks)
    if workers <= 1 or len(tasks) < 2 or size < _MIN_STRUCTURES_FOR_WORKERS:
        return [function(*args) for function, args in tasks]
    return Parallel(n_jobs=workers)(delayed(function)(*args) for function, args in tasks)


def duplicate_of(
    structures: Sequence[Structure], formulas: Sequence[str], workers: int = 1
) -> list[int]:
    """For each structure, the index of the first structure it matches (itself when
    it is the first of its kind). ``formulas`` are the reduced formulas."""
    repeated = {f for f, members in _groups(formulas).items() if len(members) > 1}
    keys = _refine_by_primitive_sites(structures, formulas, repeated)
    groups = [members for members in _groups(keys).values() if len(members) > 1]
    tasks = [(_cluster, ([structures[i] for i in members],)) for members in groups]
    first_of = list(range(len(structures)))
    for members, labels in zip(groups, _run(tasks, workers), strict=True):
        leaders: dict[int, int] = {}
        for index, label in zip(members, labels, strict=True):
            first_of[index] = leaders.setdefault(label, index)
    return first_of


NOVELTY_CLASSES = ("known", "substitution-derived", "novel-framework")
# Stores and tables written before the class was renamed call a known crystal "duplicate".
KNOWN_CLASSES = ("known", "duplicate")


@dataclass(frozen=True)
class NoveltyMatch:
    """How a structure relates to the known crystals: ``known`` (it is one of them), the
    same framework with other species (``substitution-derived``: a one-to-one
    relabelling of its elements matches a known crystal), or a ``novel-framework``; with
    the id of the known crystal it matched and the set that crystal belongs to (e.g.
    ``mp20:train``)."""

    novelty_class: str
    matched_id: str | None = None
    matched_split: str | None = None

    @property
    def novel(self) -> bool:
        return self.novelty_class not in KNOWN_CLASSES


def novelty_classes(
    structures: Sequence[Structure],
    known: KnownCrystals,
    workers: int = 1,
    cells: KnownCells | None = None,
) -> list[NoveltyMatch]:
    """The novelty class of each structure against ``known`` (see :class:`NoveltyMatch`)
    and, for those no known structure matches, against ``cells`` (crystals known without
    positions: a match there is ``known`` too).

    Only known crystals of the same framework (anonymised formula) and primitive site
    count can match. Within those, every same-formula one is tried (StructureMatcher,
    pymatgen's default tolerances): the ``known`` verdict is the matcher's own. Then the
    ones of the same prototype (space group and Wyckoff letters per element, see
    :func:`gendesign.data.known_crystals.prototype_label`) with the species relabelled
    (the matcher's anonymous fit): a substitution-derived crystal keeps its parent's
    structure type. On 10,000 mp20 samples, trying every known crystal of the framework
    took 8.7× as long and called 256 (2.6 %) substitution-derived from a crystal of
    another structure type; no `known` verdict differs (BENCHMARKS.md, "Novelty at speed").
    """
    groups = known.by_framework()
    frameworks = {framework for framework, _ in groups}
    reduced_cells: dict[int, Structure] = {}
    # structures sharing a group go into one task with that group's known crystals
    asked: dict[tuple[str, int], list[tuple[int, Structure]]] = defaultdict(list)
    for index, structure in enumerate(structures):
        if structure.composition.anonymized_formula not in frameworks:
            continue  # no known crystal has this many elements in these proportions
        reduced = reduced_cells[index] = reduced_cell(structure)
        key = (structure.composition.anonymized_formula, len(reduced))
        if key in groups:
            asked[key].append((index, reduced))
    tasks = [
        (
            _classify,
            (
                [reduced for _, reduced in members],
                [known.structures[k] for k in groups[key]],
                [known.descriptors[k].formula for k in groups[key]],
                [known.descriptors[k].prototype for k in groups[key]],
            ),
        )
        for key, members in asked.items()
    ]
    found = [NoveltyMatch("novel-framework")] * len(structures)
    for (key, members), hits in zip(asked.items(), _run(tasks, workers), strict=True):
        for (index, _), (kind, position) in zip(members, hits, strict=True):
            if kind != "novel-framework":
                k = groups[key][position]
                found[index] = NoveltyMatch(kind, known.ids[k], known.split_of(k))
    if cells is not None:
        for index, structure in enumerate(structures):
            if found[index].novelty_class == "known":
                continue
            primitive = reduced_cells.get(index) or reduced_cell(structure)
            hit = cells.match(primitive)
            if hit is not None:
                found[index] = NoveltyMatch("known", cells.ids[hit], cells.label)
    return found


def _classify(
    structures: Sequence[Structure],
    known: Sequence[Structure],
    formulas: Sequence[str],
    prototypes: Sequence[str],
) -> list[tuple[str, int]]:
    """(class, index into ``known``) per structure (already reduced for matching);
    index -1 for a novel framework. ``known`` are one framework group's crystals as
    stored, ``formulas`` and ``prototypes`` their reduced formulas and prototype labels;
    only those that can match a structure are reduced, once."""
    matcher = _matcher()
    reduced: dict[int, tuple[Structure, Lattice]] = {}

    def fits(structure: Structure, lattice: Lattice, k: int, anonymous: bool) -> bool:
        """Whether ``structure`` fits known crystal ``k`` (``anonymous``: with the species
        relabelled), tried only when the matcher's lattice search can succeed."""
        if k not in reduced:
            cell = reduced_cell(known[k])
            reduced[k] = (cell, unit_lattice(cell))
        cell, its_lattice = reduced[k]
        if not lattices_can_match(lattice, its_lattice):
            return False
        fit = matcher.fit_anonymous if anonymous else matcher.fit
        return fit(structure, cell, skip_structure_reduction=True)

    out = []
    for structure in structures:
        lattice = unit_lattice(structure)
        formula = structure.composition.reduced_formula
        same = (k for k, f in enumerate(formulas) if f == formula)
        hit = next((k for k in same if fits(structure, lattice, k, anonymous=False)), None)
        if hit is not None:
            out.append(("known", hit))
            continue
        prototype = prototype_label(structure)
        alike = (k for k, p in enumerate(prototypes) if p == prototype)
        hit = next((k for k in alike if fits(structure, lattice, k, anonymous=True)), None)
        out.append(("substitution-derived", hit) if hit is not None else ("novel-framework", -1))
    return out
