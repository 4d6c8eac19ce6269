"""Space-group templates: the symmetry of the training crystals, reused as a prior.

A flow that places every atom freely lands near a symmetric arrangement but
rarely on it, so most raw samples are P1 (MP-20 itself has 1.8 % P1). Here the
symmetry is decided before the coordinates, as DiffCSP++ does: each sample
takes a *template*, the symmetry operations of a training crystal whose
primitive cell has the sample's atom count and Wyckoff orbits its counts fit,
and the coordinate flow then moves only through configurations that keep those
operations.

A :class:`SymmetryTemplate` holds no positions, only what the constraint needs:
the operations (R, t) in the template's Niggli-reduced primitive cell, the
permutation of the atoms each one induces, which element of the template
formula sits on each atom (its rank in canonical formula order), and per orbit
its representative's Wyckoff position: an anchor p (the special coordinates) and
a projector P onto the free directions (null space of the stacked R − I of the
operations that keep the representative). From these,

- :func:`constrain` moves each representative to the mean of the estimates its
  orbit gives of it, R_j⁻¹(x_j − t_j), puts it on its Wyckoff position
  (p + P·wrap(x − p)) and rebuilds every atom as its image R_j x_r + t_j: the
  result has the template's symmetry exactly;
- :func:`project_lattice` averages the metric tensor, Ḡ = mean_g R_gᵀ G R_g
  (invariant under every operation), over the axis order closest to the sampled
  cell, and keeps the sampled volume.

A sample's template is drawn from the library in tiers (:meth:`TemplateLibrary.choose`):
a template whose formula has the same counts in the same canonical order
(a prototype of the same formula type, e.g. ABX₃ for ABX₃), else the same counts
in any order, else any template with the atom count whose orbit sizes partition
into the sample's counts; with none, the sample stays free (no template).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import permutations as axis_orders
from itertools import product

import numpy as np
import spglib
import torch
from pymatgen.core import Structure
from torch_geometric.utils import scatter

from gendesign.data.chemistry_table import element_order_key
from gendesign.model.crystalflow.torus_flow import wrap

SYMPREC = 0.1  # Å, the audit's tolerance: a template has the symmetry the audit would see


@dataclass(frozen=True)
class SymmetryTemplate:
    """The symmetry of one training crystal's cell, without its positions."""

    space_group: int
    rotations: np.ndarray  # (G, 3, 3) integer, acting on fractional coordinates
    translations: np.ndarray  # (G, 3) fractional
    permutations: np.ndarray  # (G, N): operation g sends atom i to atom permutations[g, i]
    roles: np.ndarray  # (N,) rank of each atom's element in canonical formula order
    anchors: np.ndarray  # (K, 3) per orbit: a point of its representative's Wyckoff position
    projectors: np.ndarray  # (K, 3, 3) per orbit: projector onto that position's free directions

    @property
    def num_atoms(self) -> int:
        return self.permutations.shape[1]

    def key(self) -> bytes:
        """Identical templates have identical keys."""
        parts = (np.array([self.space_group]), self.rotations, np.round(self.translations * 24),
                 self.permutations, self.roles, np.round(self.anchors, 6), np.round(self.projectors, 6))  # fmt: skip
        # + 0.0 turns −0.0 into 0.0, which would otherwise give different bytes
        return b"|".join((np.asarray(p, dtype=np.float64) + 0.0).tobytes() for p in parts)

    @cached_property
    def orbits(self) -> np.ndarray:
        """(N,) the Wyckoff orbit of each atom, numbered by first appearance."""
        first = self.permutations.min(0)  # each atom's smallest image: one per orbit
        labels = {atom: k for k, atom in enumerate(dict.fromkeys(first.tolist()))}
        return np.array([labels[atom] for atom in first.tolist()])

    @cached_property
    def representatives(self) -> np.ndarray:
        """(N,) the first atom of each atom's orbit."""
        first = {}
        for atom, orbit in enumerate(self.orbits.tolist()):
            first.setdefault(orbit, atom)
        return np.array([first[o] for o in self.orbits.tolist()])

    @cached_property
    def coset_operations(self) -> np.ndarray:
        """(N,) for each atom, an operation that sends its representative onto it."""
        return np.array(
            [
                int(np.argmax(self.permutations[:, r] == j))
                for j, r in enumerate(self.representatives)
            ]
        )

    @cached_property
    def orbit_sizes(self) -> tuple[int, ...]:
        return tuple(np.bincount(self.orbits).tolist())

    @cached_property
    def ordered_counts(self) -> tuple[int, ...]:
        """Atoms per element of the template formula, in canonical element order."""
        return tuple(np.bincount(self.roles).tolist())


def template_of(structure: Structure, symprec: float = SYMPREC) -> SymmetryTemplate | None:
    """The template of ``structure``'s primitive cell: spglib's idealised primitive cell
    at ``symprec`` Å, Niggli-reduced (the cell the lattice stage samples), and its
    operations there. None when spglib fails or the operations do not permute the atoms."""
    found = template_and_cell(structure, symprec)
    return found[0] if found else None


def template_and_cell(
    structure: Structure, symprec: float = SYMPREC
) -> tuple[SymmetryTemplate, Structure] | None:
    """:func:`template_of` and the idealised, Niggli-reduced primitive cell it describes
    (atoms in template order), or None."""
    cell = (structure.lattice.matrix, structure.frac_coords % 1.0, structure.atomic_numbers)
    ideal = spglib.standardize_cell(cell, to_primitive=True, no_idealize=False, symprec=symprec)
    if ideal is None:
        return None
    reduced = Structure(ideal[0], ideal[2], ideal[1]).get_reduced_structure()
    frac, numbers = reduced.frac_coords % 1.0, np.array(reduced.atomic_numbers)
    dataset = spglib.get_symmetry_dataset(
        (reduced.lattice.matrix, frac, numbers), symprec=1e-3
    )  # the cell is ideal now: a tight tolerance gives exact operations
    if dataset is None:
        return None
    rotations = dataset.rotations.astype(np.int64)
    # origin at the standard origin: every translation is a multiple of 1/24
    translations = np.round(dataset.translations * 24) / 24
    permutations = _permutations(frac, numbers, rotations, translations)
    if permutations is None:
        return None
    ranks = {z: k for k, z in enumerate(sorted(set(numbers.tolist()), key=element_order_key))}
    template = SymmetryTemplate(
        space_group=int(dataset.number),
        rotations=rotations,
        translations=translations,
        permutations=permutations,
        roles=np.array([ranks[z] for z in numbers.tolist()]),
        anchors=np.zeros((0, 3)),
        projectors=np.zeros((0, 3, 3)),
    )
    anchors, projectors = _wyckoff_positions(template, frac)
    cell = Structure(reduced.lattice, numbers.tolist(), frac)
    return replace(template, anchors=anchors, projectors=projectors), cell


def _wyckoff_positions(template: SymmetryTemplate, frac: np.ndarray):
    """Per orbit, the Wyckoff position of its representative as the fixed points of the
    operations that keep it: the free directions span the null space of the stacked
    (R_g − I); the anchor is the representative's position with its free part removed."""
    anchors, projectors = [], []
    for rep in dict.fromkeys(template.representatives.tolist()):
        keeping = np.nonzero(template.permutations[:, rep] == rep)[0]
        stacked = np.concatenate([template.rotations[g] - np.eye(3) for g in keeping])
        _, singular, vt = np.linalg.svd(stacked)
        free = vt[np.concatenate([singular, np.zeros(3 - len(singular))]) < 1e-8]
        projector = free.T @ free
        anchor = frac[rep] - projector @ frac[rep]
        snapped = np.round(anchor * 24) / 24  # special positions are rational
        anchors.append(np.where(np.abs(snapped - anchor) < 1e-6, snapped, anchor))
        projectors.append(projector)
    return np.array(anchors).reshape(-1, 3), np.array(projectors).reshape(-1, 3, 3)


def _permutations(frac, numbers, rotations, translations, tolerance=1e-3) -> np.ndarray | None:
    """(G, N) the atom each operation sends each atom to, or None if one does not
    map the atoms onto atoms of their element within ``tolerance`` (fractional)."""
    images = np.einsum("gij,nj->gni", rotations, frac) + translations[:, None, :]
    offsets = images[:, :, None, :] - frac[None, None, :, :]
    distances = np.abs(offsets - np.round(offsets)).max(3)  # (G, N, N)
    distances[:, numbers[:, None] != numbers[None, :]] = np.inf
    targets = distances.argmin(2)
    best = np.take_along_axis(distances, targets[..., None], 2)[..., 0]
    if best.max() > tolerance:
        return None
    if any(len(set(row.tolist())) != len(row) for row in targets):
        return None
    return targets


@dataclass(frozen=True)
class Assignment:
    """A template and, for each of its atoms, the sample element (slot) it takes."""

    template: SymmetryTemplate
    slots: np.ndarray  # (N,) index into the sample's element list
    tier: str  # "formula type", "counts", "orbits"


class TemplateLibrary:
    """The templates of a training split, indexed for fast matching."""

    def __init__(self, templates: list[SymmetryTemplate], weights: list[int] | None = None):
        self.templates = templates
        # training crystals that share a template (e.g. every rock salt) are stored once
        self.weights = torch.tensor(weights or [1] * len(templates), dtype=torch.float64)
        self._by_ordered: dict[tuple, list[int]] = defaultdict(list)
        self._by_counts: dict[tuple, list[int]] = defaultdict(list)
        self._by_size: dict[int, list[int]] = defaultdict(list)
        for k, template in enumerate(templates):
            counts = template.ordered_counts
            self._by_ordered[counts].append(k)
            self._by_counts[(template.num_atoms, tuple(sorted(counts)))].append(k)
            self._by_size[template.num_atoms].append(k)

    def __len__(self) -> int:
        return len(self.templates)

    @property
    def crystals(self) -> int:
        """Training crystals the templates come from."""
        return int(self.weights.sum())

    @classmethod
    def from_structures(cls, structures, symprec: float = SYMPREC) -> tuple[TemplateLibrary, int]:
        """The library of ``structures`` and how many of them gave no template."""
        unique: dict[bytes, SymmetryTemplate] = {}
        weights: Counter[bytes] = Counter()
        without = 0
        for structure in structures:
            template = template_of(structure, symprec)
            if template is None:
                without += 1
                continue
            key = template.key()
            unique.setdefault(key, template)
            weights[key] += 1
        return cls(list(unique.values()), [weights[k] for k in unique]), without

    def choose(
        self, counts: list[int], generator: torch.Generator, orbit_tries: int = 64
    ) -> Assignment | None:
        """A template for a sample whose elements (canonical order) have ``counts`` atoms,
        drawn uniformly within the first tier that has one (see the module docstring)."""
        counts = list(counts)
        ordered = self._by_ordered.get(tuple(counts), [])
        if ordered:
            template = self.templates[self._draw(ordered, generator)]
            return Assignment(template, template.roles.copy(), "formula type")
        same = self._by_counts.get((sum(counts), tuple(sorted(counts))), [])
        if same:
            template = self.templates[self._draw(same, generator)]
            return Assignment(template, _match_counts(template, counts), "counts")
        sized = self._by_size.get(sum(counts), [])
        if not sized:
            return None
        tries = min(orbit_tries, len(sized))
        order = torch.multinomial(self.weights[sized], tries, generator=generator).tolist()
        for k in order:
            template = self.templates[sized[k]]
            orbit_slots = _partition(template.orbit_sizes, counts)
            if orbit_slots is not None:
                return Assignment(template, np.array(orbit_slots)[template.orbits], "orbits")
        return None

    def _draw(self, candidates: list[int], generator: torch.Generator) -> int:
        """One of ``candidates``, as often as training crystals have it."""
        return candidates[int(torch.multinomial(self.weights[candidates], 1, generator=generator))]

    # ------------------------------------------------------------------ checkpoint form
    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The library as flat tensors (what a checkpoint stores)."""
        ts = self.templates
        return {
            "space_group": torch.tensor([t.space_group for t in ts], dtype=torch.int16),
            "weights": self.weights.to(torch.int32),
            "num_operations": torch.tensor([len(t.rotations) for t in ts], dtype=torch.int16),
            "num_atoms": torch.tensor([t.num_atoms for t in ts], dtype=torch.int16),
            "rotations": torch.from_numpy(np.concatenate([t.rotations for t in ts])).to(torch.int8),
            "translations": torch.from_numpy(  # multiples of 1/24
                np.round(np.concatenate([t.translations for t in ts]) * 24)
            ).to(torch.int8),
            "permutations": torch.from_numpy(
                np.concatenate([t.permutations.ravel() for t in ts])
            ).to(torch.int8),
            "roles": torch.from_numpy(np.concatenate([t.roles for t in ts])).to(torch.int8),
            "anchors": torch.from_numpy(np.concatenate([t.anchors for t in ts])).float(),
            "projectors": torch.from_numpy(np.concatenate([t.projectors for t in ts])).float(),
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> TemplateLibrary:
        operations = tensors["num_operations"].long().tolist()
        atoms = tensors["num_atoms"].long().tolist()
        rotations = tensors["rotations"].long().numpy()
        translations = tensors["translations"].double().numpy() / 24
        permutations = tensors["permutations"].long().numpy()
        roles = tensors["roles"].long().numpy()
        anchors = tensors["anchors"].double().numpy()
        snapped = np.round(anchors * 24) / 24  # special positions exact again after float32
        anchors = np.where(np.abs(snapped - anchors) < 1e-6, snapped, anchors)
        projectors = tensors["projectors"].double().numpy()
        templates, g0, p0, a0, k0 = [], 0, 0, 0, 0
        for number, g, n in zip(tensors["space_group"].tolist(), operations, atoms, strict=True):
            permutation = permutations[p0 : p0 + g * n].reshape(g, n)
            orbits = len(set(permutation.min(0).tolist()))
            templates.append(
                SymmetryTemplate(
                    space_group=int(number),
                    rotations=rotations[g0 : g0 + g],
                    translations=translations[g0 : g0 + g],
                    permutations=permutation,
                    roles=roles[a0 : a0 + n],
                    anchors=anchors[k0 : k0 + orbits],
                    projectors=projectors[k0 : k0 + orbits],
                )
            )
            g0, p0, a0, k0 = g0 + g, p0 + g * n, a0 + n, k0 + orbits
        return cls(templates, tensors["weights"].tolist())


def _match_counts(template: SymmetryTemplate, counts: list[int]) -> np.ndarray:
    """Sample element slots for the template's atoms when the counts agree as multisets:
    elements with equal counts are paired in canonical order (cations with cations)."""
    pending: dict[int, list[int]] = defaultdict(list)
    for slot, count in enumerate(counts):
        pending[count].append(slot)
    slot_of_role = {}
    for role, count in enumerate(template.ordered_counts):
        slot_of_role[role] = pending[count].pop(0)
    return np.array([slot_of_role[r] for r in template.roles.tolist()])


def _partition(orbit_sizes: tuple[int, ...], counts: list[int]) -> list[int] | None:
    """An element slot for each orbit so that each element gets exactly its count of
    atoms, or None (depth-first, largest orbits first)."""
    order = sorted(range(len(orbit_sizes)), key=lambda k: -orbit_sizes[k])
    left = list(counts)
    chosen = [0] * len(orbit_sizes)

    def place(position: int) -> bool:
        if position == len(order):
            return not any(left)
        size = orbit_sizes[order[position]]
        for slot in range(len(left)):
            if left[slot] >= size:
                left[slot] -= size
                chosen[order[position]] = slot
                if place(position + 1):
                    return True
                left[slot] += size
        return False

    return chosen if place(0) else None


# ---------------------------------------------------------------------- the constraint
@dataclass
class BatchSymmetry:
    """The templates of a batch of cells over the batch's flat atoms (a free cell: every
    atom its own orbit, no constraint).

    Atom j is the image x_j = R_j x_r + t_j of its orbit's representative r; the
    representative lies on its Wyckoff position, x_r = p_r + P_r u (``anchor`` p_r,
    ``projector`` P_r onto the free directions, u free).
    """

    representative: torch.Tensor  # (N,) flat index of each atom's representative
    rotation: torch.Tensor  # (N, 3, 3) R_j
    inverse_rotation: torch.Tensor  # (N, 3, 3) R_j⁻¹
    shift: torch.Tensor  # (N, 3) t_j
    anchor: torch.Tensor  # (N, 3) p of each atom's orbit
    projector: torch.Tensor  # (N, 3, 3) P of each atom's orbit

    @classmethod
    def of(
        cls, templates: list[SymmetryTemplate | None], num_atoms: list[int], device="cpu"
    ) -> BatchSymmetry:
        parts: dict[str, list[np.ndarray]] = defaultdict(list)
        offset = 0
        for template, n in zip(templates, num_atoms, strict=True):
            if template is None:
                parts["representative"].append(np.arange(n) + offset)
                parts["rotation"].append(np.repeat(np.eye(3)[None], n, 0))
                parts["shift"].append(np.zeros((n, 3)))
                parts["anchor"].append(np.zeros((n, 3)))
                parts["projector"].append(np.repeat(np.eye(3)[None], n, 0))
            else:
                operation = template.coset_operations
                parts["representative"].append(template.representatives + offset)
                parts["rotation"].append(template.rotations[operation].astype(np.float64))
                parts["shift"].append(template.translations[operation])
                parts["anchor"].append(template.anchors[template.orbits])
                parts["projector"].append(template.projectors[template.orbits])
            offset += n
        tensors = {
            name: torch.from_numpy(np.concatenate(arrays)).to(device)
            for name, arrays in parts.items()
        }
        rotation = tensors["rotation"].double()
        return cls(
            representative=tensors["representative"].long(),
            rotation=rotation,
            inverse_rotation=torch.linalg.inv(rotation),
            **{name: tensors[name].double() for name in ("shift", "anchor", "projector")},
        )

    def to(self, device) -> BatchSymmetry:
        return BatchSymmetry(**{k: v.to(device) for k, v in vars(self).items()})


# Lattice vectors n tried when looking for the image offset + n nearest to a Wyckoff
# position's free directions: an oblique direction, such as (x, 0, 2x) in a reduced
# monoclinic cell, can need one that wrapping each axis into [-1/2, 1/2) does not give.
_SHIFTS = torch.tensor(list(product((-2, -1, 0, 1, 2), repeat=3)), dtype=torch.float64)


def along_free_directions(offset: torch.Tensor, projector: torch.Tensor) -> torch.Tensor:
    """(N, 3) the part along the free directions (``projector`` P, (N, 3, 3)) of the
    lattice image ``offset`` + n that lies nearest to them; among equally near images,
    the shortest such part (on the torus the shortest way along a Wyckoff position)."""
    candidates = wrap(offset.double())[:, None, :] + _SHIFTS.to(offset.device)[None]  # (N, S, 3)
    along = torch.einsum("nij,nsj->nsi", projector, candidates)
    off = (candidates - along).norm(dim=2)
    nearest = off <= off.min(1, keepdim=True).values + 1e-9
    best = along.norm(dim=2).masked_fill(~nearest, torch.inf).argmin(1)
    return along[torch.arange(len(offset), device=offset.device), best]


def constrain(frac: torch.Tensor, symmetry: BatchSymmetry) -> torch.Tensor:
    """``frac`` (N, 3) made exactly symmetric: each representative moves to the mean of
    the estimates its orbit gives of it (R_j⁻¹(x_j − t_j)), onto the nearest point of
    its Wyckoff position, and every atom is set to its image."""
    x = frac.double()
    rep = symmetry.representative
    estimates = torch.einsum("nij,nj->ni", symmetry.inverse_rotation, x - symmetry.shift)
    offsets = wrap(estimates - x[rep])
    centre = x + scatter(offsets, rep, dim=0, dim_size=len(x), reduce="mean")
    on_site = symmetry.anchor + along_free_directions(centre - symmetry.anchor, symmetry.projector)
    images = torch.einsum("nij,nj->ni", symmetry.rotation, on_site[rep]) + symmetry.shift
    return (images % 1.0).to(frac.dtype)


def project_lattice(
    lengths: np.ndarray, angles: np.ndarray, template: SymmetryTemplate
) -> tuple[np.ndarray, np.ndarray]:
    """Lengths (Å) and angles (degrees) of the cell nearest to the sampled one that every
    operation of ``template`` keeps, with the sampled volume."""
    metric = _metric(lengths, angles)
    rotations = template.rotations.astype(np.float64)
    best, best_distortion = metric, math.inf
    for order in axis_orders(range(3)):
        permuted = metric[np.ix_(order, order)]
        averaged = np.einsum("gki,kl,glj->ij", rotations, permuted, rotations) / len(rotations)
        distortion = np.linalg.norm(averaged - permuted) / np.linalg.norm(permuted)
        if distortion < best_distortion - 1e-9:
            best, best_distortion = averaged, distortion
    best *= (np.linalg.det(metric) / np.linalg.det(best)) ** (1 / 3)
    new_lengths = np.sqrt(np.diag(best))
    cosines = [best[1, 2] / (new_lengths[1] * new_lengths[2]),
               best[0, 2] / (new_lengths[0] * new_lengths[2]),
               best[0, 1] / (new_lengths[0] * new_lengths[1])]  # fmt: skip
    return new_lengths, np.degrees(np.arccos(np.clip(cosines, -1, 1)))


def _metric(lengths: np.ndarray, angles: np.ndarray) -> np.ndarray:
    cos = np.cos(np.radians(angles))
    a, b, c = lengths
    return np.array(
        [[a * a, a * b * cos[2], a * c * cos[1]],
         [a * b * cos[2], b * b, b * c * cos[0]],
         [a * c * cos[1], b * c * cos[0], c * c]]
    )  # fmt: skip
