"""Every reader on real slices of the shared data, and agreement between readers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase.db import connect
from ase.io import write as ase_write
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.data.readers import (
    read_ase_db,
    read_cdvae_csv,
    read_mattergen_cache,
    read_structure,
    read_structures,
)
from gendesign.errors import InputError


def test_cdvae_csv_reads_structures_ids_and_properties(pilot_csv):
    crystals = read_cdvae_csv(pilot_csv)
    assert len(crystals) == 1000 and not crystals.skipped
    assert crystals.ids[0].startswith("mp-")
    assert {"formation_energy_per_atom", "band_gap", "e_above_hull"} <= set(crystals.property_names)
    assert "spacegroup.number" in crystals.property_names  # numeric columns are kept
    assert "cif" not in crystals.property_names and "Unnamed: 0" not in crystals.property_names
    frame = pd.read_csv(pilot_csv)
    assert crystals.structures[0].composition.reduced_formula == frame.pretty_formula[0]
    np.testing.assert_allclose(crystals.properties.band_gap, frame.band_gap)


def test_mattergen_cache_reads_complete_val_split(data_root):
    crystals = read_mattergen_cache(data_root / "mp_20/mattergen_cache/val")
    assert len(crystals) == 9047 and not crystals.skipped
    num_atoms = np.load(data_root / "mp_20/mattergen_cache/val/num_atoms.npy")
    assert [len(s) for s in crystals.structures[:100]] == num_atoms[:100].tolist()
    assert crystals.properties["dft_bulk_modulus"].isna().mean() > 0.8  # mostly missing


def test_mattergen_train_split_without_positions_is_refused_clearly(data_root):
    with pytest.raises(InputError, match="pos.npy is absent"):
        read_mattergen_cache(data_root / "mp_20/mattergen_cache/train")


def test_csv_and_cache_readers_agree_on_the_same_materials(pilot_csv, data_root):
    from_csv = read_cdvae_csv(pilot_csv).subset(range(40))
    cache = read_mattergen_cache(data_root / "mp_20/mattergen_cache/val")
    index = {item_id: i for i, item_id in enumerate(cache.ids)}
    matcher = StructureMatcher()
    for item_id, structure in zip(from_csv.ids, from_csv.structures, strict=True):
        other = cache.structures[index[item_id]]
        assert matcher.fit(structure, other), item_id


@pytest.fixture()
def structure_folder(tmp_path, pilot_csv):
    """A folder with 3 CIFs, 2 POSCARs and one 3-frame extxyz carrying properties."""
    crystals = read_cdvae_csv(pilot_csv).subset(range(8))
    for k in range(3):
        crystals.structures[k].to(filename=str(tmp_path / f"cif_{k}.cif"))
    for k in range(3, 5):
        crystals.structures[k].to(filename=str(tmp_path / f"POSCAR_{k}"), fmt="poscar")
    frames = []
    for k in range(5, 8):
        atoms = AseAtomsAdaptor.get_atoms(crystals.structures[k])
        atoms.info["material_id"] = crystals.ids[k]
        atoms.info["band_gap"] = float(crystals.properties.band_gap[k])
        frames.append(atoms)
    ase_write(tmp_path / "frames.extxyz", frames)
    (tmp_path / "notes.txt").write_text("not a structure")
    return tmp_path, crystals


def test_folder_reader_reads_cif_poscar_and_extxyz_frames(structure_folder):
    folder, source = structure_folder
    crystals = read_structures(folder)
    assert len(crystals) == 8 and not crystals.skipped
    assert set(crystals.ids) >= {"cif_0", "POSCAR_3", *source.ids[5:8]}
    matcher = StructureMatcher()
    by_id = dict(zip(crystals.ids, crystals.structures, strict=True))
    assert matcher.fit(by_id["cif_1"], source.structures[1])
    assert matcher.fit(by_id["POSCAR_4"], source.structures[4])
    assert matcher.fit(by_id[source.ids[6]], source.structures[6])
    gaps = crystals.properties.band_gap
    assert gaps.notna().sum() == 3  # only the extxyz frames carry it


def test_single_file_reader(structure_folder):
    folder, source = structure_folder
    structure = read_structure(folder / "cif_0.cif")
    assert StructureMatcher().fit(structure, source.structures[0])
    with pytest.raises(InputError, match="expected one structure, found 3"):
        read_structure(folder / "frames.extxyz")
    with pytest.raises(InputError, match="unrecognised input"):
        read_structures(folder / "notes.txt")


def test_ase_database_reader(tmp_path, pilot_csv):
    crystals = read_cdvae_csv(pilot_csv).subset(range(5))
    path = tmp_path / "set.db"
    with connect(path) as db:
        for item_id, structure, gap in zip(
            crystals.ids, crystals.structures, crystals.properties.band_gap, strict=True
        ):
            db.write(AseAtomsAdaptor.get_atoms(structure), material_id=item_id, band_gap=float(gap))
    loaded = read_structures(path)
    assert loaded.ids == crystals.ids
    np.testing.assert_allclose(loaded.properties.band_gap, crystals.properties.band_gap)
    for a, b in zip(loaded.structures, crystals.structures, strict=True):
        np.testing.assert_allclose(a.cart_coords, b.cart_coords, atol=1e-8)
    assert read_ase_db(path).property_names == ["band_gap"]
