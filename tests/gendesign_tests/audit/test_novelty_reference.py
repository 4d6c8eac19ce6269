"""Novelty against every known crystal: MP-20 train matched by formula and cell (true
and false matches on real crystals), val/test by StructureMatcher, and a user's own
known set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from gendesign.audit import audit
from gendesign.audit.novelty_reference import novelty_reference
from gendesign.data.known_cells import CellTolerances, KnownCells, cells_match
from gendesign.data.readers import structure_from_cif_text
from gendesign.errors import InputError


def rock_salt(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_cells_tell_the_same_crystal_from_another_arrangement():
    primitive = rock_salt().get_primitive_structure()
    tolerances = CellTolerances()
    # the known cell in another setting (a supercell basis of the same lattice, reduced
    # differently) and 3 % larger, as a relaxed cell may be
    other_setting = Lattice(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]]) @ primitive.lattice.matrix)
    assert cells_match(primitive, other_setting.scale(primitive.volume * 1.03), 2, tolerances)
    # CsCl-type NaCl: same formula and atom count, a cubic cell of another volume and shape
    cesium_chloride_type = Lattice.cubic(3.3)
    assert not cells_match(primitive, cesium_chloride_type, 2, tolerances)
    # the same shape at 20 % more volume per atom is another crystal
    assert not cells_match(
        primitive, primitive.lattice.scale(primitive.volume * 1.2), 2, tolerances
    )
    # a known cell with twice the atoms (a supercell or another structure) is not taken
    assert not cells_match(primitive, primitive.lattice.scale(primitive.volume * 2), 4, tolerances)
    known = KnownCells(
        "toy",
        ["rs", "cscl"],
        ["NaCl", "NaCl"],
        np.stack([other_setting.matrix, np.eye(3) * 3.3]),
        np.array([2, 2]),
    )
    assert known.match(primitive) == 0


@pytest.fixture(scope="module")
def mp20_reference(session_cache):
    return novelty_reference("mp20")


@pytest.fixture(scope="module")
def train_only_crystals(data_root, mp20_reference):
    """MP-20 train crystals (the pilot file has their positions) whose formula occurs in
    no val or test crystal, so only the formula-and-cell match can know them."""
    pilot = pd.read_csv(data_root / "mp_20" / "pilot" / "train.csv.gz")
    positioned = set(mp20_reference.structures.formulas)
    rows = pilot[~pilot["pretty_formula"].isin(positioned)].head(8)
    return [(row.material_id, structure_from_cif_text(row.cif)) for row in rows.itertuples()]


def test_every_split_of_mp20_counts_as_known(mp20_reference, mp20, train_only_crystals):
    assert "mp20:train by formula and cell (27,136)" in mp20_reference.label
    assert {"mp20:val", "mp20:test"} <= set(mp20_reference.structures.splits)
    test_crystal = mp20.splits["test"].structure(5)
    val_crystal = mp20.splits["holdout"].structure(3)
    matches = mp20_reference.classify([test_crystal, val_crystal])
    assert [m.novelty_class for m in matches] == ["known", "known"]
    assert [m.matched_split for m in matches] == ["mp20:test", "mp20:val"]
    # train crystals: known by formula and cell, with their own id
    found = mp20_reference.classify([structure for _, structure in train_only_crystals])
    assert all(m.novelty_class == "known" and m.matched_split == "mp20:train" for m in found)
    assert [m.matched_id for m in found] == [material_id for material_id, _ in train_only_crystals]


def test_a_train_formula_in_another_cell_is_not_known(mp20_reference, train_only_crystals):
    """False matches: the same atoms in a cell stretched 25 % along one axis."""
    stretched = []
    for _, structure in train_only_crystals:
        moved = structure.copy()
        moved.apply_strain([0.25, 0.0, 0.0])
        stretched.append(moved)
    found = mp20_reference.classify(stretched)
    assert not any(m.matched_split == "mp20:train" for m in found)


def test_a_users_known_set_counts_as_known(tmp_path):
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    salt, potassium_bromide = rock_salt(), rock_salt(6.6)
    potassium_bromide.replace_species({"Na": "K", "Cl": "Br"})
    salt.to(filename=str(candidates / "salt.cif"))
    potassium_bromide.to(filename=str(candidates / "kbr.cif"))
    reference = tmp_path / "reference"
    reference.mkdir()
    Structure(Lattice.cubic(3.0), ["Cs", "I"], [[0, 0, 0], [0.5] * 3]).to(
        filename=str(reference / "csi.cif")
    )
    mine = tmp_path / "my-known"
    mine.mkdir()
    rock_salt(5.6).to(filename=str(mine / "my-nacl.cif"))
    table = audit(candidates, reference=str(reference), known=str(mine)).table.set_index("id")
    assert table.loc["salt", "novelty_class"] == "known"
    assert table.loc["salt", "matched_id"] == "my-nacl"
    assert table.loc["salt", "matched_split"] == "known:my-known"
    assert table.loc["kbr", "novelty_class"] == "substitution-derived"
    assert not table.loc["salt", "novel"] and table.loc["kbr", "novel"]
    with pytest.raises(InputError, match="--known .*nowhere: no such file or folder"):
        audit(candidates, reference=str(reference), known=str(tmp_path / "nowhere"))
