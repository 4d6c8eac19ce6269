"""Per-structure checks on the fixture crystals (no data root): reading a folder with bad
items, validity, symmetry and duplicates."""

from __future__ import annotations

import shutil

import pytest
from helpers import FIXTURES

from gendesign.audit import audit
from gendesign.data.readers import read_structures

SPACE_GROUPS = {
    "NaCl_rocksalt": "Fm-3m", "CsCl": "Pm-3m", "SrTiO3_perovskite": "Pm-3m",
    "CaF2_fluorite": "Fm-3m", "ZnO_wurtzite": "P6_3mc", "TiO2_rutile": "P4_2/mnm",
    "Si_diamond": "Fd-3m", "MgO_rocksalt": "Fm-3m",
}  # fmt: skip


@pytest.fixture
def mixed_folder(tmp_path):
    """The fixture crystals, their bad inputs and a copy of one crystal."""
    folder = tmp_path / "mixed"
    shutil.copytree(FIXTURES / "crystals", folder)
    for bad in (FIXTURES / "bad").iterdir():
        shutil.copy(bad, folder / bad.name)
    shutil.copy(folder / "NaCl_rocksalt.cif", folder / "NaCl_copy.cif")
    return folder


def test_a_folder_with_bad_items_reads_the_rest_and_names_each_problem(mixed_folder):
    crystals = read_structures(mixed_folder)
    assert sorted(crystals.ids) == sorted([*SPACE_GROUPS, "NaCl_copy"])
    reasons = {item.item_id: item.reason for item in crystals.skipped}
    assert set(reasons) == {"broken", "disordered", "nan_coordinates"}
    assert "disordered or partially occupied" in reasons["disordered"]
    assert "NaN" in reasons["nan_coordinates"] or "not finite" in reasons["nan_coordinates"]


def test_per_structure_audit_of_textbook_crystals(mixed_folder):
    result = audit(mixed_folder, reference=None, workers=1)
    table = result.table.set_index("id")
    assert len(table) == 12 and table["readable"].sum() == 9
    for name, symbol in SPACE_GROUPS.items():
        assert table.loc[name, "valid"], (name, table.loc[name, "reason"])
        assert table.loc[name, "spacegroup_symbol_0.1"] == symbol, name
    # One of the two rock-salt NaCl files is the other's duplicate; the rest are unique.
    assert table["unique"].sum() == 8
    assert table.loc["NaCl_copy", "unique"] != table.loc["NaCl_rocksalt", "unique"]
    assert result.summary.coverage is None
