"""Uniqueness within a set and novelty against a reference, by StructureMatcher.

Structures can only match when their reduced formulas agree, so both checks first
group by reduced formula and then compare within a group: the cost grows with the
size of the largest polymorph family, not with the square of the set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from joblib import Parallel, delayed
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

# pymatgen's default tolerances, the ones used by DiffCSP and MatterGen for S.U.N. counts.
MATCHER_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}
_MIN_GROUPS_FOR_WORKERS = 64


def _matcher() -> StructureMatcher:
    return StructureMatcher(**MATCHER_TOLERANCES)


def _cluster(structures: Sequence[Structure]) -> list[int]:
    """Cluster label (0..k-1, first member first) for each structure of one formula."""
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


def _by_formula(formulas: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, formula in enumerate(formulas):
        groups[formula].append(index)
    return groups


def _run(tasks: list, workers: int) -> list:
    if workers <= 1 or len(tasks) < _MIN_GROUPS_FOR_WORKERS:
        return [function(*args) for function, args in tasks]
    return Parallel(n_jobs=workers)(delayed(function)(*args) for function, args in tasks)


def duplicate_of(
    structures: Sequence[Structure], formulas: Sequence[str], workers: int = 1
) -> list[int]:
    """For each structure, the index of the first structure it matches (itself when
    it is the first of its kind). ``formulas`` are the reduced formulas."""
    groups = [members for members in _by_formula(formulas).values()]
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
    known = _by_formula(reference_formulas)
    groups = _by_formula(formulas)
    novel = [True] * len(structures)
    tasks, task_members = [], []
    for formula, members in groups.items():
        if formula in known:
            candidates = [reference[i] for i in known[formula]]
            tasks.append((_matches_any, ([structures[i] for i in members], candidates)))
            task_members.append(members)
    for members, matched in zip(task_members, _run(tasks, workers), strict=True):
        for index, hit in zip(members, matched, strict=True):
            novel[index] = not hit
    return novel
