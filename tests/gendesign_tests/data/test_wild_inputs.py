"""Inputs from the wild: each gives a structure or one reason, never a traceback, and no
input file changes by being read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.io import write as ase_write
from conftest import run_gendesign as gendesign
from helpers import FIXTURES
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.symmetry.groups import SpaceGroup

from gendesign.data.readers import read_structures
from gendesign.errors import InputError

PEROVSKITE = (FIXTURES / "crystals" / "SrTiO3_perovskite.cif").read_text()
SITES = PEROVSKITE.index("  Sr  Sr0")  # the atom-site lines start here


def _occupancies(value: str, first_only: bool = False) -> str:
    """The perovskite with every site's (or only the first site's) occupancy set to ``value``."""
    sites = PEROVSKITE[SITES:].replace("  1\n", f"  {value}\n", 1 if first_only else -1)
    return PEROVSKITE[:SITES] + sites


def _listed_operations_cif(count: int, occupancy: str) -> str:
    """SrTiO3 by its asymmetric unit and ``count`` listed operations (Pm-3m's 48, repeated)."""
    operations = [op.as_xyz_str() for op in SpaceGroup("Pm-3m").symmetry_ops]
    listed = "".join(f"  {k + 1}  '{op}'\n" for k, op in enumerate((operations * 5)[:count]))
    cell = "".join(f"_cell_length_{a} 3.905\n" for a in "abc")
    cell += "".join(f"_cell_angle_{a} 90\n" for a in ("alpha", "beta", "gamma"))
    return (
        f"data_SrTiO3\n{cell}loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n"
        f"{listed}loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_fract_x\n"
        " _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n"
        f"  Sr  Sr1  0.0  0.0  0.0  {occupancy}\n  Ti  Ti1  0.5  0.5  0.5  {occupancy}\n"
        f"  O  O1  0.5  0.5  0.0  {occupancy}\n"
    )


@pytest.fixture
def wild(tmp_path):
    """Each input of the wild by file name, and the structure count or reason it must give."""
    folder = tmp_path / "wild"
    folder.mkdir()
    molecule = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [0, 0.96, 0]], pbc=False)
    molecule.arrays["forces"] = np.zeros((3, 3))
    ase_write(folder / "molecule.extxyz", molecule, format="extxyz")
    huge = Structure(Lattice.cubic(1e6), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    (folder / "huge_cell.cif").write_text(str(CifWriter(huge)))
    sparse = Structure(Lattice.cubic(400), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    (folder / "sparse_cell.cif").write_text(str(CifWriter(sparse)))
    (folder / "unknown_element.cif").write_text(PEROVSKITE.replace("  Sr  ", "  Xx  "))
    (folder / "rounded_occupancy.cif").write_text(_occupancies("0.999"))
    (folder / "operations.cif").write_text(_listed_operations_cif(200, "0.999"))
    (folder / "utf16.cif").write_text(PEROVSKITE, encoding="utf-16")
    (folder / "utf8_bom.cif").write_text(PEROVSKITE, encoding="utf-8-sig")
    (folder / "half_occupied.cif").write_text(_occupancies("0.5", first_only=True))
    return folder, {
        "molecule.extxyz": "not periodic in all three directions",
        "huge_cell.cif": "cell vector is 1e+06 Å long",
        "sparse_cell.cif": "Å³ per atom",
        "unknown_element.cif": "unknown element symbol 'Xx'",
        "rounded_occupancy.cif": 5,
        "operations.cif": 5,
        "utf16.cif": 5,
        "utf8_bom.cif": 5,
        "half_occupied.cif": "disordered or partially occupied",
    }


def test_each_wild_input_gives_a_structure_or_one_reason(wild):
    folder, expected = wild
    for name, outcome in expected.items():
        crystals = read_structures(folder / name)
        if isinstance(outcome, int):
            assert len(crystals) == 1 and not crystals.skipped, (name, crystals.skipped)
            assert len(crystals.structures[0]) == outcome, name
        else:
            assert len(crystals) == 0 and len(crystals.skipped) == 1, name
            assert outcome in crystals.skipped[0].reason, (name, crystals.skipped[0].reason)
    rounded = read_structures(folder / "rounded_occupancy.cif").structures[0]
    assert rounded.is_ordered
    assert rounded.properties["read_note"] == (
        "5 site(s) with occupancies from 0.999 to 1 read as fully occupied"
    )


def test_an_empty_or_foreign_database_is_named_and_left_untouched(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(InputError, match="an empty file, not an ASE database"):
        read_structures(empty)
    assert empty.read_bytes() == b""
    import sqlite3

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    before = foreign.read_bytes()
    with pytest.raises(InputError, match="without ASE's tables"):
        read_structures(foreign)
    assert foreign.read_bytes() == before


def test_auditing_inputs_that_yield_nothing_is_sentences_and_changes_no_byte(wild, tmp_path):
    """Each file audited on its own, as a user would: the unreadable ones end in
    'nothing to audit' (exit code 3) with the file's reason; no input byte changes."""
    folder, expected = wild
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    result = gendesign("audit", str(folder / "unknown_element.cif"), "--reference", "none",
                       "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Nothing to audit" in result.stdout
    assert "unknown element symbol 'Xx'" in result.stdout
    assert (tmp_path / "out" / "structures.csv").is_file()
    whole = gendesign("audit", str(folder), "--reference", "none", "--out", str(tmp_path / "all"))
    assert whole.returncode == 0, whole.stderr
    assert "Traceback" not in whole.stdout + whole.stderr
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_a_large_cell_is_audited_and_one_beyond_the_atom_limit_gets_its_reason():
    """1,000 atoms of low symmetry: audited with a sampled site fingerprint (a full one
    takes CrystalNN minutes) and not compared with other crystals (StructureMatcher's
    primitive-cell search takes minutes); with max_atoms below its size it is listed,
    not audited."""
    from gendesign.audit import audit

    rocksalt = Structure.from_file(FIXTURES / "crystals" / "NaCl_rocksalt.cif")
    large = rocksalt.copy()
    large.make_supercell([5, 5, 5])
    rng = np.random.default_rng(0)
    large = Structure(large.lattice, large.species, large.cart_coords + rng.normal(0, 0.05, (1000, 3)),
                      coords_are_cartesian=True)  # fmt: skip
    table = audit([large, rocksalt], reference=None, workers=1).table
    assert bool(table.loc[0, "readable"]) and table.loc[0, "fingerprint_error"] == ""
    assert table.loc[0, "n_atoms"] == 1000
    assert table.loc[0, "match_note"].startswith("not compared with other crystals")
    assert pd.isna(table.loc[0, "unique"]) and bool(table.loc[1, "unique"])
    limited = audit([large, rocksalt], reference=None, workers=1, max_atoms=500).table
    assert list(limited["id"]) == ["1", "0"]  # the audited one first, then the one left out
    assert limited.loc[1, "reason"] == (
        "not audited: 1,000 atoms, more than the limit of 500 (raise it with --max-atoms, "
        "audit option max_atoms)"
    )
    assert bool(limited.loc[0, "valid"])


def test_a_cif_beyond_the_atom_limit_is_declined_before_it_is_parsed(tmp_path, gendesign_cli):
    """The CIF's atom-site rows are counted from its text: a cell over --max-atoms is
    declined in the time it takes to read the file, with a sentence saying how to raise
    the limit (pymatgen's parser alone takes about 20 s for 9,600 sites)."""
    from gendesign.data.readers import cif_atom_site_rows, read_structures

    rocksalt = Structure.from_file(FIXTURES / "crystals" / "NaCl_rocksalt.cif")
    large = rocksalt.copy()
    large.make_supercell([4, 4, 4])
    path = tmp_path / "large.cif"
    large.to(filename=str(path))
    assert cif_atom_site_rows(path.read_text()) == len(large) == 512
    # a symmetric CIF lists its asymmetric unit only: the count is a lower bound
    assert cif_atom_site_rows((FIXTURES / "crystals" / "NaCl_rocksalt.cif").read_text()) <= len(
        rocksalt
    )
    declined = read_structures(path, max_atoms=100)
    assert len(declined) == 0
    assert declined.skipped[0].reason.startswith(
        "not audited: 512 atoms, more than the limit of 100"
    )
    assert len(read_structures(path, max_atoms=512)) == 1
    result = gendesign_cli("audit", str(path), "--reference", "none", "--max-atoms", "100",
                           "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert f"Nothing audited: every structure in {path} was declined." in " ".join(
        result.stdout.split()
    )
    assert "raise it with --max-atoms" in result.stdout
