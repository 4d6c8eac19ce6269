"""Space-group templates: built from real crystals, imposed exactly while decoding."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from gendesign.audit.symmetry import space_group
from gendesign.data.chemistry_table import element_order_key
from gendesign.model.crystalflow.spacegroup_templates import (
    BatchSymmetry,
    TemplateLibrary,
    constrain,
    project_lattice,
    template_of,
)
from gendesign.model.generator import Generator

FIXTURES = Path(__file__).parents[2] / "fixtures" / "crystals"
TEXTBOOK = {path.stem: Structure.from_file(path) for path in sorted(FIXTURES.glob("*.cif"))}


def _space_group(structure: Structure, symprec: float = 0.01) -> int:
    """spglib's space group number (1 where it cannot decide)."""
    found = space_group(structure, symprec)
    return found[0] if found else 1


def _invariance_error(frac: np.ndarray, template) -> float:
    """Largest fractional distance between an operation's image of an atom and the atom
    the template says it lands on."""
    worst = 0.0
    for rotation, translation, permutation in zip(
        template.rotations, template.translations, template.permutations, strict=True
    ):
        offset = frac @ rotation.T + translation - frac[permutation]
        worst = max(worst, float(np.abs(offset - np.round(offset)).max()))
    return worst


def _lattice_error(lengths, angles, template) -> float:
    matrix = Lattice.from_parameters(*lengths, *angles).matrix
    metric = matrix @ matrix.T
    return max(float(np.abs(r.T @ metric @ r - metric).max()) for r in template.rotations)


def _decorated(template, frac: np.ndarray, lengths, angles, elements: list[str]) -> Structure:
    return Structure(
        Lattice.from_parameters(*lengths, *angles),
        [elements[r] for r in template.roles],
        frac,
    )


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_a_template_keeps_the_space_group_of_its_crystal(name):
    crystal = TEXTBOOK[name]
    template = template_of(crystal)
    primitive = SpacegroupAnalyzer(crystal, 0.1).find_primitive()
    assert template.space_group == _space_group(crystal, 0.1)
    assert template.num_atoms == len(primitive)
    assert sum(template.orbit_sizes) == template.num_atoms
    # the roles are the formula's elements in canonical order, with the crystal's counts
    counts = Counter(site.specie.Z for site in primitive)
    elements = sorted(counts, key=element_order_key)
    assert template.ordered_counts == tuple(counts[z] for z in elements)


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_random_coordinates_and_cells_are_made_exactly_symmetric(name):
    template = template_of(TEXTBOOK[name])
    symmetry = BatchSymmetry.of([template], [template.num_atoms])
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        frac = constrain(
            torch.rand((template.num_atoms, 3), generator=generator).double(), symmetry
        )
        assert _invariance_error(frac.numpy(), template) < 1e-9
        lengths = 3 + 4 * torch.rand(3, generator=generator).double().numpy()
        angles = 70 + 40 * torch.rand(3, generator=generator).double().numpy()
        new_lengths, new_angles = project_lattice(lengths, angles, template)
        assert _lattice_error(new_lengths, new_angles, template) < 1e-8
        volume = Lattice.from_parameters(*lengths, *angles).volume
        assert Lattice.from_parameters(*new_lengths, *new_angles).volume == pytest.approx(volume)


def test_special_positions_stay_special_and_free_ones_move():
    """Rutile: Ti on 2a (no free parameter), O on 4f (x, x, 0): after the constraint Ti
    sits where it did, and the O parameter is whatever the noise gave, the same for all."""
    template = template_of(TEXTBOOK["TiO2_rutile"])
    symmetry = BatchSymmetry.of([template], [template.num_atoms])
    generator = torch.Generator().manual_seed(1)
    placed = [
        constrain(torch.rand((6, 3), generator=generator).double(), symmetry) for _ in range(3)
    ]
    titanium = [frac[template.roles == 0].numpy() for frac in placed]
    oxygen = [frac[template.roles == 1].numpy() for frac in placed]
    for frac in titanium[1:]:
        gap = np.abs(frac - titanium[0])
        assert np.minimum(gap, 1 - gap).max() < 1e-9  # Ti has no free coordinate
    assert not np.allclose(oxygen[0], oxygen[1])  # O does
    lengths, angles = project_lattice(np.array([4.6, 4.6, 3.0]), np.array([90.0, 90, 90]), template)
    rutile = _decorated(template, placed[0].numpy(), lengths, angles, ["Ti", "O"])
    assert _space_group(rutile) == 136


def test_real_crystals_are_fixed_points_of_their_own_constraint(mp20):
    """In its template's cell a crystal already has the symmetry, so the constraint
    leaves it where it is, and a small nudge moves it only a little: no jump to another
    point of a Wyckoff position (an oblique free direction such as (x, 0, 2x) in a
    reduced monoclinic cell once sent a fifth of MP-20's cells elsewhere)."""
    from gendesign.model.crystalflow.spacegroup_templates import template_and_cell
    from gendesign.model.crystalflow.torus_flow import wrap

    found = [template_and_cell(s) for s in mp20.crystal_set("test").structures[:200]]
    templates, cells = zip(*[f for f in found if f is not None], strict=True)
    assert len(cells) >= 195
    symmetry = BatchSymmetry.of(list(templates), [len(c) for c in cells])
    frac = torch.from_numpy(np.concatenate([c.frac_coords for c in cells]))
    assert wrap(constrain(frac, symmetry) - frac).abs().max() < 1e-6
    nudge = 1e-3 * (2 * torch.rand(frac.shape, generator=torch.Generator().manual_seed(0)) - 1)
    assert wrap(constrain(frac + nudge, symmetry) - frac).abs().max() < 4e-3
    oblique = [t for t in templates if any(np.abs(p - np.diag(np.diag(p))).max() > 1e-6
                                           for p in t.projectors)]  # fmt: skip
    assert oblique, "the slice has no oblique Wyckoff direction to test"


def test_the_library_matches_formula_types_first_and_honours_every_count():
    library, without = TemplateLibrary.from_structures(list(TEXTBOOK.values()) * 2)
    # NaCl and MgO share one template (two rock salts, twice each)
    assert without == 0 and len(library) == 7 and library.crystals == 16
    assert sorted(library.weights.tolist()) == [2.0] * 6 + [4.0]
    generator = torch.Generator().manual_seed(0)
    # ABX3 with counts (1, 1, 3): the perovskite is the one formula-type match
    chosen = library.choose([1, 1, 3], generator)
    assert chosen.tier == "formula type" and chosen.template.space_group == 221
    # (2, 1) in canonical order (a cation-rich A2X): no such formula type; the fluorite's
    # (1, 2) has the same counts in another order, and the cation takes the single site
    chosen = library.choose([2, 1], generator)
    assert chosen.tier == "counts" and chosen.template.space_group == 225
    assert sorted(Counter(chosen.slots.tolist()).items()) == [(0, 2), (1, 1)]
    # four atoms of one element: only an orbit partition of a 4-atom cell (wurtzite 2 + 2)
    chosen = library.choose([4], generator)
    assert chosen.tier == "orbits" and Counter(chosen.slots.tolist()) == {0: 4}
    assert library.choose([7, 6], generator) is None  # no 13-atom template


def test_the_library_round_trips_through_its_checkpoint_form():
    library, _ = TemplateLibrary.from_structures(list(TEXTBOOK.values()))
    again = TemplateLibrary.from_tensors(library.to_tensors())
    assert [t.key() for t in again.templates] == [t.key() for t in library.templates]
    assert again.weights.tolist() == library.weights.tolist()


@pytest.fixture(scope="module")
def mp20_flow() -> Generator:
    return Generator.from_pretrained("mp20", device="cpu")


def test_bundled_mp20_carries_the_templates_of_its_training_crystals(mp20_flow):
    library = mp20_flow.model.templates
    note = mp20_flow.checkpoint.metrics["templates"]
    assert library is not None and note["crystals"] == library.crystals > 8000
    assert note["p1_share"] < 0.05  # MP-20 is mostly symmetric; so is the library


def test_decoded_crystals_have_the_imposed_space_group(mp20_flow):
    sampling = mp20_flow.sampling_with({"symmetrise": False})
    structures, table = mp20_flow.sample_table(64, seed=4, sampling=sampling)
    imposed = table["template_space_group"].to_numpy()
    assert (imposed > 0).mean() > 0.9
    found = np.array([_space_group(s, 1e-3) for s in structures])  # exact, not snapped
    symmetric = imposed > 1
    assert (found[symmetric] != 1).all()
    # the imposed group, or a supergroup where free coordinates land on special values
    assert (found[symmetric] == imposed[symmetric]).mean() > 0.9
    assert np.mean([_space_group(s, 0.1) == 1 for s in structures]) < 0.1
    # the composition is the decoder's: counts per element are integers that add up
    assert all(len(s) == n for s, n in zip(structures, table["n_atoms"], strict=True))


def test_without_templates_the_same_model_samples_free_cells(mp20_flow):
    sampling = mp20_flow.sampling_with({"symmetrise": False, "space_group_templates": False})
    structures, table = mp20_flow.sample_table(32, seed=4, sampling=sampling)
    assert (table["template_space_group"] == 0).all()
    assert np.mean([_space_group(s, 0.1) == 1 for s in structures]) > 0.3


def test_templated_sampling_is_reproducible_and_honours_constraints(mp20_flow):
    from gendesign.model.common.constraints import Constraints

    constraints = Constraints.parse(elements="Li,Fe,P,O", atoms="4:14")
    a, table = mp20_flow.sample_table(24, seed=9, constraints=constraints)
    b, _ = mp20_flow.sample_table(24, seed=9, constraints=constraints)
    assert all(x == y for x, y in zip(a, b, strict=True))
    for structure in a:
        assert {el.symbol for el in structure.composition.elements} <= {"Li", "Fe", "P", "O"}
        assert 4 <= len(structure) <= 14
    assert (table["placements"] >= 1).all()
