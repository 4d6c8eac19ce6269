"""Decoding latents of a :class:`~gendesign.model.crystalflow.model.CrystalFlow` into crystals.

Per batch of latents z:

1. **Condition.** With property targets, each sample's condition is a training
   crystal's label vector that meets every target range (drawn from the model's
   label bank), so conditions stay on the data; without targets the model runs
   unconditioned. Classifier-free guidance with weight w moves every logit and
   velocity to ``cond + w·(cond − uncond)``.
2. **Composition.** Elements in canonical order, each with an integer count,
   under the element and atom-count constraints (masked logits: every sample
   meets them). A composition that is not charge balanced under the constraints'
   oxidation-state policy (:mod:`gendesign.audit.composition`; all-metal alloys
   pass) is redrawn for the same z up to ``composition_tries`` times; one still
   unbalanced after that is kept and flagged ``charge_balanced = False`` (the
   table and ``gendesign sample`` count them).
3. **Lattice.** ``lattice_steps`` Euler steps of the lattice flow; with
   ``snap_lattice``, lengths within 3 % and angles within 3° of each other (or of
   60°, 90°, 120°) are made exact, so the coordinates are placed in a cell that
   can carry the symmetry the flow aimed at.
4. **Space group.** With the model's template library (``space_group_templates``),
   each composition takes the symmetry of a training crystal whose cell its counts
   fit (:mod:`gendesign.model.crystalflow.spacegroup_templates`): the lattice is projected onto the cells
   that symmetry keeps, and the atoms are ordered onto its Wyckoff orbits. A
   composition no template fits stays free (``template_space_group`` 0).
5. **Coordinates.** ``coordinate_steps`` Euler steps of the torus flow, each followed
   by the template's constraint, so the crystal ends exactly symmetric (cells without
   a template take the ``anneal_slope`` schedule instead). A cell whose
   atoms end closer than 0.5 Å is placed again (new template draw, new noise) up
   to ``coordinate_tries`` times; ``placements`` counts the tries.
6. **Symmetrisation** (optional): the structure snapped to the space group
   spglib finds at ``symprec``, kept only when no two atoms come closer than
   0.5 Å and the atom count still meets the constraints; the raw structure is
   returned beside it.

All randomness comes from one ``torch.Generator``: a seed fixes the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pymatgen.core import Composition, Element, Lattice, Structure

from gendesign.audit.composition import charge_balanced
from gendesign.data.lattice import cell_angles, matrix_from_params
from gendesign.errors import ConfigError
from gendesign.model.common.constraints import Constraints
from gendesign.model.common.symmetrise import closest_pair, symmetrise
from gendesign.model.crystalflow.chemistry_vae import ChemistryVAE, CompositionBatch
from gendesign.model.crystalflow.config import FlowSamplingConfig
from gendesign.model.crystalflow.model import CrystalFlow
from gendesign.model.crystalflow.spacegroup_templates import (
    Assignment,
    BatchSymmetry,
    TemplateLibrary,
    constrain,
    project_lattice,
)
from gendesign.model.crystalflow.torus_flow import integrate, lattice_invariants
from gendesign.ranges import Range

MIN_DISTANCE = 0.5  # Å, CDVAE's structural validity threshold


@dataclass
class DecodedCrystals:
    """One batch of decoded crystals with what the decoder did to each."""

    structures: list[Structure]  # symmetrised where that was kept, raw otherwise
    raw_structures: list[Structure]
    charge_balanced: list[bool]
    composition_attempts: list[int]
    symmetrised: list[bool]
    template_space_group: list[int]  # the space group imposed while decoding; 0 = none
    placements: list[int]  # coordinate placements tried (a clash < 0.5 Å is placed again)


def conditions_for(
    chemistry: ChemistryVAE, targets: dict[str, Range], size: int, generator: torch.Generator
) -> torch.Tensor | None:
    """(size, P) standardised conditions for ``targets`` (NaN = not conditioned), or None."""
    if not targets:
        return None
    bank = chemistry.label_bank
    columns = [chemistry.property_names.index(name) for name in targets]
    meets = torch.isfinite(bank[:, columns]).all(1)
    for column, bounds in zip(columns, targets.values(), strict=True):
        meets &= torch.tensor(
            [bounds.contains(float(v)) for v in bank[:, column]], device=bank.device
        )
    values = torch.full((size, len(chemistry.property_names)), math.nan, device=bank.device)
    if meets.any():
        rows = torch.nonzero(meets).flatten()
        pick = rows[torch.randint(len(rows), (size,), generator=generator, device=bank.device)]
        values[:, columns] = bank[pick][:, columns]
    else:  # no training crystal meets every range: draw inside it, clipped to the data
        for column, bounds in zip(columns, targets.values(), strict=True):
            finite = bank[:, column][torch.isfinite(bank[:, column])]
            lo = float(finite.min()) if bounds.min is None else bounds.min
            hi = float(finite.max()) if bounds.max is None else bounds.max
            u = torch.rand(size, generator=generator, device=bank.device)
            values[:, column] = lo + u * (max(hi, lo) - lo)
    return chemistry.standardise(values)


class _Guided:
    """Runs a network on conditioned and unconditioned inputs and mixes the outputs."""

    def __init__(self, chemistry: ChemistryVAE, z: torch.Tensor, condition, weight: float):
        size, device = len(z), z.device
        unconditioned = chemistry.condition_features(None, size, device)
        self.guided = condition is not None and weight > 0
        contexts = [
            chemistry.context(
                torch.cat(
                    [
                        z,
                        chemistry.condition_features(condition, size, device)
                        if condition is not None
                        else unconditioned,
                    ],
                    1,
                )
            )
        ]
        if self.guided:
            contexts.append(chemistry.context(torch.cat([z, unconditioned], 1)))
        self.context = torch.cat(contexts)
        self.weight = weight
        self.size = size

    def repeat(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x]) if self.guided else x

    def mix(self, output: torch.Tensor) -> torch.Tensor:
        if not self.guided:
            return output
        conditioned, unconditioned = output[: self.size], output[self.size :]
        return conditioned + self.weight * (conditioned - unconditioned)


def sample_compositions(
    chemistry: ChemistryVAE,
    guided: _Guided,
    element_mask: torch.Tensor,
    atoms: tuple[int, int],
    temperature: float,
    generator: torch.Generator,
    required: torch.Tensor | None = None,
) -> tuple[CompositionBatch, torch.Tensor]:
    """Stoichiometries for ``guided``'s latents and whether each reached a legal end
    (False only when the constraints leave no element to start with). With ``required``
    (vocabulary indices, ascending) every crystal holds exactly those elements: slot k
    may only take the k-th of them, the end only follows the last, and each count leaves
    an atom for every element still to come; the model draws the counts."""
    size, device = guided.size, guided.context.device
    vocabulary, slots = chemistry.num_elements, chemistry.config.max_species
    low, high = atoms
    species = torch.full((size, slots), -1, dtype=torch.long, device=device)
    counts = torch.zeros((size, slots), dtype=torch.long, device=device)
    state = guided.context
    previous = torch.full((size,), chemistry.start_token, dtype=torch.long, device=device)
    previous_count = torch.zeros(size, dtype=torch.long, device=device)
    so_far = torch.zeros(size, dtype=torch.long, device=device)
    done = torch.zeros(size, dtype=torch.bool, device=device)
    ok = torch.ones(size, dtype=torch.bool, device=device)
    order = torch.arange(vocabulary, device=device)
    count_values = torch.arange(1, chemistry.max_atoms + 1, device=device)
    wanted = len(required) if required is not None and len(required) else 0
    for k in range(slots + 1):
        state, logits = chemistry.step(
            state, guided.repeat(previous), guided.repeat(previous_count), guided.repeat(so_far)
        )
        logits = guided.mix(logits) / temperature
        after = order[None, :] > previous[:, None] if k else torch.ones_like(logits[:, :-1]).bool()
        allowed = element_mask[None, :] & after & (so_far < high)[:, None] & (k < slots)
        end_allowed = (so_far >= low) & (k > 0)
        if wanted:
            allowed = allowed & (order == required[k])[None, :] if k < wanted else allowed & False
            end_allowed = end_allowed & (k == wanted)
        legal = torch.cat([allowed, end_allowed[:, None]], 1)
        dead = ~legal.any(1) & ~done
        if k > 0 and dead.any():
            # No element may follow and the cell is still below --atoms: the last element
            # takes the missing atoms (always within the upper bound), then the formula ends.
            counts[dead, k - 1] += low - so_far[dead]
            so_far = torch.where(dead, low, so_far)
        else:
            ok &= ~dead
        legal[dead | done, vocabulary] = True  # ended rows stay ended
        probabilities = _constrained(logits.softmax(1), legal)
        choice = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
        ending = (choice == vocabulary) | done
        element = choice.clamp(max=vocabulary - 1)
        count_logits = (
            guided.mix(chemistry.count_logits(state, guided.repeat(element))) / temperature
        )
        still_needed = max(wanted - k - 1, 0)  # one atom kept for each required element to come
        fits = (so_far[:, None] + count_values[None, :] + still_needed) <= high
        count_probabilities = count_logits.masked_fill(~fits, -math.inf).softmax(1)
        count_probabilities = torch.nan_to_num(count_probabilities, nan=1.0)  # rows already over
        count = torch.multinomial(count_probabilities, 1, generator=generator).squeeze(1) + 1
        if k < slots:
            species[:, k] = torch.where(ending, -1, element)
            counts[:, k] = torch.where(ending, 0, count)
        so_far = so_far + torch.where(ending, 0, count)
        previous = torch.where(ending, vocabulary, element)
        previous_count = torch.where(ending, 0, count)
        done |= ending
        if done.all():
            break
    ok &= so_far >= low
    return CompositionBatch(species, counts), ok


def _constrained(probabilities: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """The next-token distribution under the constraints: the end keeps the probability
    the model gives it, and the elements still allowed share the rest in the model's
    proportions. (Renormalising over the legal tokens alone would hand the mass of every
    excluded element to the end token, so narrow ``--elements`` choices would stop after
    one or two elements: elemental Li for Li-Fe-P-O.)"""
    end = torch.where(legal[:, -1], probabilities[:, -1], 0.0)
    allowed = legal[:, :-1]
    elements = probabilities[:, :-1] * allowed
    total = elements.sum(1, keepdim=True)
    has_elements = allowed.any(1)
    end = torch.where(has_elements, end, 1.0)  # nothing else is legal: end
    # an element the constraints require can be one the model gives a vanishing
    # probability (below float range): then the allowed ones share alike
    even = allowed / allowed.sum(1, keepdim=True).clamp(min=1)
    share = torch.where(total > 0, elements / total.clamp(min=1e-30), even)
    return torch.cat([share * (1 - end)[:, None], end[:, None]], 1)


@torch.inference_mode()
def sample_lattices(
    chemistry: ChemistryVAE, guided: _Guided, composition: CompositionBatch, steps: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Lengths (B, 3) Å and angles (B, 3) degrees by ``steps`` Euler steps of the lattice flow."""
    size, device = guided.size, guided.context.device
    summary = guided.repeat(chemistry.summary(composition))
    x = torch.randn((size, 6), generator=generator, device=device)
    for k in range(steps):
        t = torch.full((len(summary),), k / steps, device=device)
        velocity = guided.mix(
            chemistry.lattice_velocity(guided.repeat(x), t, guided.context, summary)
        )
        x = x + velocity / steps
    lengths, angles = chemistry.lattice_params(x, composition.num_atoms)
    return lengths, cell_angles(angles.float()).double()


def snap_lattice(
    lengths: torch.Tensor, angles: torch.Tensor, length_tolerance: float, angle_tolerance: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lattices whose lengths agree within a relative ``length_tolerance`` made equal,
    angles within ``angle_tolerance`` degrees of each other made equal, and angles that
    close to 60°, 90° or 120° set to them: a flow lands near a symmetric cell, rarely on it."""
    lengths, angles = lengths.clone(), angles.clone()
    for i, j in ((0, 1), (1, 2), (0, 2)):
        mean = lengths[:, [i, j]].mean(1)
        close = (lengths[:, i] - lengths[:, j]).abs() <= length_tolerance * mean
        lengths[close, i], lengths[close, j] = mean[close], mean[close]
        close = (angles[:, i] - angles[:, j]).abs() <= angle_tolerance
        mean = angles[:, [i, j]].mean(1)
        angles[close, i], angles[close, j] = mean[close], mean[close]
    for special in (60.0, 90.0, 120.0):
        angles = torch.where((angles - special).abs() <= angle_tolerance, special, angles)
    return lengths, angles


@dataclass
class DrawnCompositions:
    """Stoichiometries drawn for a batch of latents, with the redraw bookkeeping."""

    composition: CompositionBatch
    balanced: list[bool]  # under the constraints' oxidation-state policy
    attempts: list[int]  # draws until balanced (composition_tries when never)


@torch.inference_mode()
def draw_compositions(
    model: CrystalFlow,
    z: torch.Tensor,
    settings: FlowSamplingConfig,
    constraints: Constraints,
    generator: torch.Generator,
    condition: torch.Tensor | None = None,
) -> DrawnCompositions:
    """Stage 2 of the module docstring: compositions for latents ``z`` under the element
    and atom-count constraints, redrawn while not charge balanced."""
    chemistry = model.chemistry
    size, device = len(z), z.device
    element_mask = constraints.element_mask(chemistry.atomic_numbers)
    required = constraints.required_indices(chemistry.atomic_numbers)
    atoms = constraints.atom_bounds(model.max_atoms)
    guided = _Guided(chemistry, z, condition, settings.guidance)
    symbols = [Element.from_Z(int(n)).symbol for n in chemistry.atomic_numbers]
    species = torch.full((size, chemistry.config.max_species), -1, dtype=torch.long, device=device)
    counts = torch.zeros_like(species)
    balanced = torch.zeros(size, dtype=torch.bool, device=device)
    attempts = torch.zeros(size, dtype=torch.long)
    todo = torch.ones(size, dtype=torch.bool, device=device)
    for _ in range(settings.composition_tries):
        drawn, ok = sample_compositions(
            chemistry, guided, element_mask, atoms, settings.temperature, generator, required
        )
        for b in torch.nonzero(todo).flatten().tolist():
            attempts[b] += 1
            present = drawn.species[b] >= 0
            if not ok[b] or not present.any():
                continue
            species[b], counts[b] = drawn.species[b], drawn.counts[b]
            formula = tuple(symbols[i] for i in drawn.species[b][present].tolist())
            counts_b = tuple(drawn.counts[b][present].tolist())
            if charge_balanced(formula, counts_b, constraints.oxidation_states):
                balanced[b] = True
                todo[b] = False
        if not todo.any():
            break
    return DrawnCompositions(
        CompositionBatch(species, counts), balanced.cpu().tolist(), attempts.tolist()
    )


def composition_batch(model: CrystalFlow, compositions: list[Composition]) -> CompositionBatch:
    """Given cell compositions (integer counts) as the model's padded stoichiometries,
    elements in vocabulary order; one sentence names an element or count it cannot take."""
    chemistry = model.chemistry
    index = {int(z): k for k, z in enumerate(chemistry.atomic_numbers.tolist())}
    slots = chemistry.config.max_species
    species = torch.full((len(compositions), slots), -1, dtype=torch.long)
    counts = torch.zeros_like(species)
    for b, composition in enumerate(compositions):
        amounts = {el.Z: composition[el] for el in composition.elements}
        unknown = [Element.from_Z(z).symbol for z in amounts if z not in index]
        if unknown:
            raise ConfigError(
                f"composition {composition.formula}: this model never saw {', '.join(unknown)}"
            )
        if len(amounts) > slots or sum(amounts.values()) > model.max_atoms:
            raise ConfigError(
                f"composition {composition.formula}: this model makes cells of at most "
                f"{slots} elements and {model.max_atoms} atoms"
            )
        if any(amount != int(amount) for amount in amounts.values()):
            raise ConfigError(f"composition {composition.formula}: counts must be whole atoms")
        for k, z in enumerate(sorted(amounts, key=index.__getitem__)):
            species[b, k], counts[b, k] = index[z], int(amounts[z])
    device = chemistry.atomic_numbers.device
    return CompositionBatch(species.to(device), counts.to(device))


@torch.inference_mode()
def decode(
    model: CrystalFlow,
    z: torch.Tensor,
    settings: FlowSamplingConfig,
    constraints: Constraints | None = None,
    generator: torch.Generator | None = None,
    compositions: list[Composition] | None = None,
) -> DecodedCrystals:
    """Crystals for latents ``z`` (B, latent_dim), steered toward ``constraints.targets``;
    with ``compositions`` (one per latent) stage 2 is skipped and each crystal takes its
    given composition."""
    constraints = constraints or Constraints()
    chemistry = model.chemistry
    size = len(z)
    generator = generator or torch.Generator(device=z.device).manual_seed(0)
    atoms = constraints.atom_bounds(model.max_atoms)
    condition = conditions_for(chemistry, constraints.targets, size, generator)
    guided = _Guided(chemistry, z, condition, settings.guidance)
    if compositions is None:
        drawn = draw_compositions(model, z, settings, constraints, generator, condition)
    else:
        if len(compositions) != size:
            raise ValueError(f"{len(compositions)} compositions for {size} latents")
        drawn = DrawnCompositions(
            composition_batch(model, compositions),
            [
                charge_balanced(*_symbols_counts(c), constraints.oxidation_states)
                for c in compositions
            ],
            [0] * size,
        )
    composition = drawn.composition
    lengths, angles = sample_lattices(
        chemistry, guided, composition, settings.lattice_steps, generator
    )
    if settings.snap_lattice:
        lengths, angles = snap_lattice(lengths, angles, 0.03, 3.0)

    raw, imposed, placements = place_atoms(model, settings, composition, lengths, angles, generator)
    structures, snapped = [], []
    for structure in raw:
        final = (
            symmetrise(structure, settings.symprec, MIN_DISTANCE, atoms)
            if settings.symmetrise
            else None
        )
        structures.append(final or structure)
        snapped.append(final is not None)
    return DecodedCrystals(
        structures, raw, drawn.balanced, drawn.attempts, snapped, imposed, placements
    )


def _symbols_counts(composition: Composition) -> tuple[tuple[str, ...], tuple[int, ...]]:
    elements = sorted(composition.elements, key=lambda el: el.Z)
    return tuple(el.symbol for el in elements), tuple(int(composition[el]) for el in elements)


def place_atoms(
    model: CrystalFlow,
    settings: FlowSamplingConfig,
    composition: CompositionBatch,
    lengths: torch.Tensor,
    angles: torch.Tensor,
    generator: torch.Generator,
) -> tuple[list[Structure], list[int], list[int]]:
    """Each cell's structure, the space group imposed on it (0 = none) and how many
    placements it took. A placement whose atoms come closer than 0.5 Å (two atoms of an
    orbit meeting on a special position, say) is tried again with a fresh template
    draw and fresh noise, up to ``coordinate_tries`` times; the last one is kept."""
    size = len(composition.counts)
    library = model.templates if settings.space_group_templates else None
    structures: list[Structure | None] = [None] * size
    imposed, placements = [0] * size, [0] * size
    todo = list(range(size))
    for _ in range(settings.coordinate_tries):
        subset = CompositionBatch(composition.species[todo], composition.counts[todo])
        assignments = assign_templates(library, subset, generator)
        cells = _integrate_cells(
            model, settings, subset, lengths[todo], angles[todo], assignments, generator
        )
        still = []
        for b, structure, assignment in zip(todo, cells, assignments, strict=True):
            structures[b], placements[b] = structure, placements[b] + 1
            imposed[b] = assignment.template.space_group if assignment else 0
            if closest_pair(structure) < MIN_DISTANCE:
                still.append(b)
        todo = still
        if not todo:
            break
    return structures, imposed, placements


def _integrate_cells(model, settings, composition, lengths, angles, assignments, generator):
    """The coordinate flow for one batch of cells, each under its template (if any)."""
    atom_species, lengths, angles = place_on_templates(assignments, composition, lengths, angles)
    num_atoms = composition.num_atoms
    symmetry = BatchSymmetry.of(
        [a.template if a else None for a in assignments], num_atoms.tolist(), lengths.device
    )
    frac = integrate(
        model.coordinates,
        atom_species,
        lattice_invariants(lengths, angles, num_atoms),
        num_atoms,
        settings.coordinate_steps,
        # the anneal pulls free atoms onto near-symmetric sites; a template's cell has its
        # symmetry already, and there the sharper late steps only overshoot
        torch.tensor(
            [0.0 if a else settings.anneal_slope for a in assignments], device=lengths.device
        ),
        generator,
        constrain=lambda f: constrain(f, symmetry),
    )
    matrices = matrix_from_params(lengths, angles).cpu().numpy()
    numbers = model.chemistry.atomic_numbers[atom_species].cpu().tolist()
    frac = frac.double().cpu().numpy()
    cells, start = [], 0
    for b, n in enumerate(num_atoms.tolist()):
        cells.append(
            Structure(Lattice(matrices[b]), numbers[start : start + n], frac[start : start + n])
        )
        start += n
    return cells


def assign_templates(
    library: TemplateLibrary | None, composition: CompositionBatch, generator: torch.Generator
) -> list[Assignment | None]:
    """A template for each composition (None: no library, or none fits its counts)."""
    if library is None:
        return [None] * len(composition.counts)
    chosen = []
    for counts, present in zip(composition.counts.cpu(), composition.present.cpu(), strict=True):
        chosen.append(library.choose(counts[present].tolist(), generator))
    return chosen


def place_on_templates(
    assignments: list[Assignment | None],
    composition: CompositionBatch,
    lengths: torch.Tensor,
    angles: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each atom's vocabulary index (flat, cell by cell: in its template's atom order, or
    element by element in a free cell) and the lattices (Å, degrees) projected onto
    the cells their templates keep."""
    lengths, angles = lengths.clone(), angles.clone()
    atom_species = []
    for b, assignment in enumerate(assignments):
        present = composition.present[b]
        elements = composition.species[b][present]
        if assignment is None:
            atom_species.append(torch.repeat_interleave(elements, composition.counts[b][present]))
            continue
        atom_species.append(elements[torch.from_numpy(assignment.slots).to(elements.device)])
        new_lengths, new_angles = project_lattice(
            lengths[b].cpu().numpy(), angles[b].cpu().numpy(), assignment.template
        )
        lengths[b] = torch.from_numpy(new_lengths).to(lengths)
        angles[b] = torch.from_numpy(new_angles).to(angles)
    return torch.cat(atom_species), lengths, angles


@torch.inference_mode()
def encode_structures(model: CrystalFlow, structures: list[Structure]) -> torch.Tensor:
    """Latent means (B, latent_dim) of ``structures`` (composition and reduced lattice;
    an element outside the vocabulary is left out of the composition)."""
    chemistry = model.chemistry
    device = chemistry.atomic_numbers.device
    slots = chemistry.config.max_species
    species = torch.full((len(structures), slots), -1, dtype=torch.long)
    counts = torch.zeros_like(species)
    lengths, angles = torch.zeros((len(structures), 3)), torch.zeros((len(structures), 3))
    for b, structure in enumerate(structures):
        amounts = structure.composition.get_el_amt_dict()
        index = [
            (int(chemistry.element_lookup[Element(el).Z]), int(n)) for el, n in amounts.items()
        ]
        index = sorted(i for i in index if i[0] >= 0)[:slots]
        for k, (i, n) in enumerate(index):
            species[b, k], counts[b, k] = i, n
        reduced = structure.lattice.get_niggli_reduced_lattice()
        lengths[b], angles[b] = torch.tensor(reduced.abc), torch.tensor(reduced.angles)
    composition = CompositionBatch(species.to(device), counts.to(device))
    features = chemistry.lattice_features(
        lengths.double().to(device), angles.double().to(device), composition.num_atoms
    )
    return chemistry.encode(composition, features)[0]
