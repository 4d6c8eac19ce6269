"""Uniqueness within a set and novelty against a reference, by StructureMatcher.

Two structures can only match when their reduced formulas agree and, since the
matcher reduces both to primitive cells and does not try supercells, when their
primitive cells hold the same number of sites. Both checks therefore compare
only within such (formula, primitive sites) groups; primitive cells are found
only where a formula occurs more than once, so most crystals never need one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from joblib import Parallel, delayed
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

# pymatgen's default tolerances, the ones used by DiffCSP and MatterGen for S.U.N. counts.
MATCHER_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}
# Below this many structures to compare, worker start-up costs more than it saves.
_MIN_STRUCTURES_FOR_WORKERS = 256


def _matcher() -> StructureMatcher:
    return StructureMatcher(**MATCHER_TOLERANCES)


def primitive_site_count(structure: Structure) -> int:
    """Sites in the primitive cell, found the way StructureMatcher finds it."""
    return len(structure.get_primitive_structure())


def _cluster(structures: Sequence[Structure]) -> list[int]:
    """Cluster label (0..k-1, first member first) for each structure of one group."""
    matcher = _matcher()
    representatives: list[Structure] = []
    labels = []
    for structure in structures:
        for label, representative in enumerate(representatives):
            if matcher.fit(representative, structure):
                labels.append(label)
                break
        else:
            labels.append(len(representatives))
            representatives.append(structure)
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


def is_novel(
    structures: Sequence[Structure],
    formulas: Sequence[str],
    reference: Sequence[Structure],
    reference_formulas: Sequence[str],
    workers: int = 1,
) -> list[bool]:
    """True where no reference structure of the same reduced formula matches."""
    shared = set(formulas) & set(reference_formulas)
    keys = _refine_by_primitive_sites(structures, formulas, shared)
    in_reference = [i for i, f in enumerate(reference_formulas) if f in shared]
    reference_keys = _refine_by_primitive_sites(
        [reference[i] for i in in_reference], [reference_formulas[i] for i in in_reference], shared
    )
    known = _groups(reference_keys)
    novel = [True] * len(structures)
    tasks, task_members = [], []
    for key, members in _groups(keys).items():
        if key in known:
            candidates = [reference[in_reference[i]] for i in known[key]]
            tasks.append((_matches_any, ([structures[i] for i in members], candidates)))
            task_members.append(members)
    for members, matched in zip(task_members, _run(tasks, workers), strict=True):
        for index, hit in zip(members, matched, strict=True):
            novel[index] = not hit
    return novel
