"""Bad input: one clear sentence for a single file; recorded-and-skipped in batch work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.db import connect
from ase.io import write as ase_write

from gendesign.config import load_config
from gendesign.data.datasets import load_dataset
from gendesign.data.preprocess import DataConfig
from gendesign.data.readers import read_cdvae_csv, read_structure, read_structures
from gendesign.errors import ConfigError, DataRootError, InputError

# Row 0 of perov_5/val.csv (CdCuN3), whose site lines are edited below.
CD_LINE = "  Cd  Cd1  1  0.50071723  0.50000000  0.50000000  1"


@pytest.fixture(scope="module")
def good_cif(data_root) -> str:
    cif = pd.read_csv(data_root / "perov_5/val.csv").cif[0]
    assert CD_LINE in cif
    return cif


@pytest.fixture(scope="module")
def bad_cifs(good_cif) -> dict[str, str]:
    """Broken variants of a real CIF, keyed by the words their reason must contain."""
    return {
        "could not be parsed": "data_broken\n_cell_length_a 4.0\nthis is not a CIF\n",
        "disordered or partially occupied": good_cif.replace(CD_LINE, CD_LINE[:-1] + "0.5"),
        "unknown element symbol 'Xx'": good_cif.replace("  Cd  Cd1", "  Xx  Xx1"),
        "NaN": good_cif.replace("0.50071723", "nan"),
        "degenerate": good_cif.replace(
            "_cell_length_c   4.27928426", "_cell_length_c   0.00000000"
        ),
        "empty": "",
    }


def test_csv_rows_are_skipped_with_reasons_and_the_rest_loads(tmp_path, good_cif, bad_cifs):
    rows = [("good-0", good_cif)] + [(f"bad-{k}", text) for k, text in enumerate(bad_cifs.values())]
    rows.append(("good-1", good_cif))
    path = tmp_path / "mixed.csv"
    pd.DataFrame(
        {"material_id": [r[0] for r in rows], "cif": [r[1] for r in rows], "gap": 1.0}
    ).to_csv(path)
    crystals = read_cdvae_csv(path)
    assert crystals.ids == ["good-0", "good-1"]
    assert len(crystals.skipped) == len(bad_cifs)
    for item, expected in zip(crystals.skipped, bad_cifs, strict=True):
        assert expected.lower() in item.reason.lower(), (expected, item.reason)
        assert item.source.startswith("mixed.csv row ")
    log = pd.read_csv(crystals.write_skipped_csv(tmp_path / "skipped.csv"))
    assert list(log.columns) == ["source", "id", "reason"] and len(log) == len(bad_cifs)


@pytest.mark.parametrize(
    "problem",
    ["could not be parsed", "disordered", "unknown element", "NaN", "degenerate", "empty"],
)
def test_single_bad_cif_raises_one_sentence_naming_the_file(tmp_path, bad_cifs, problem):
    key = next(k for k in bad_cifs if problem.lower() in k.lower())
    path = tmp_path / "bad.cif"
    path.write_text(bad_cifs[key])
    with pytest.raises(InputError) as err:
        read_structure(path)
    message = str(err.value)
    assert message.startswith(str(path)) and problem.lower() in message.lower()
    assert "\n" not in message


def test_non_finite_coordinates_in_extxyz_and_ase_db_are_recorded(tmp_path):
    good = Atoms(
        "NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.eye(3) * 4.0, pbc=True
    )
    nan_atoms, inf_atoms, flat = good.copy(), good.copy(), good.copy()
    nan_atoms.positions[1, 0] = np.nan
    inf_atoms.positions[0, 2] = np.inf
    flat.cell[2] = [0.0, 0.0, 0.0]  # zero-volume lattice
    db_path = tmp_path / "set.db"
    with connect(db_path) as db:
        for name, atoms in [
            ("good", good),
            ("has-nan", nan_atoms),
            ("has-inf", inf_atoms),
            ("flat", flat),
        ]:
            db.write(atoms, material_id=name)
    crystals = read_structures(db_path)
    assert crystals.ids == ["good"]
    reasons = {s.item_id: s.reason for s in crystals.skipped}
    assert "NaN or infinite" in reasons["has-nan"] and "NaN or infinite" in reasons["has-inf"]
    assert "lattice" in reasons["flat"]

    folder = tmp_path / "frames"
    folder.mkdir()
    ase_write(folder / "good.extxyz", good)
    ase_write(folder / "nan.extxyz", nan_atoms)
    (folder / "empty.cif").write_text("")
    crystals = read_structures(folder)
    assert crystals.ids == ["good-0"]
    assert {s.item_id: s.reason for s in crystals.skipped} == {
        "empty": "the file is empty",
        "nan-0": "site 1 has NaN or infinite coordinates",
    }


def test_whole_file_problems_raise_naming_the_file(tmp_path):
    no_cif = tmp_path / "no_cif.csv"
    pd.DataFrame({"material_id": ["a"], "structure": ["x"]}).to_csv(no_cif, index=False)
    with pytest.raises(
        InputError, match=r"no_cif\.csv: no 'cif' column \(columns are: material_id, structure\)"
    ):
        read_cdvae_csv(no_cif)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: the file is empty"):
        read_cdvae_csv(empty)
    with pytest.raises(InputError, match="no such file or folder"):
        read_structures(tmp_path / "missing.cif")


def test_named_dataset_skips_bad_rows_and_logs_them(tmp_path, data_root, good_cif, bad_cifs):
    """A user's own copy of a dataset with broken rows still loads, with a per-row log."""
    root = tmp_path / "root"
    (root / "perov_5").mkdir(parents=True)
    frame = pd.read_csv(data_root / "perov_5/val.csv").head(60)
    bad = frame.head(len(bad_cifs)).copy()
    bad["cif"] = list(bad_cifs.values())
    bad["material_id"] = [f"bad-{k}" for k in range(len(bad))]
    pd.concat([frame, bad]).to_csv(root / "perov_5/val.csv", index=False)
    pd.read_csv(data_root / "perov_5/test.csv").head(20).to_csv(
        root / "perov_5/test.csv", index=False
    )

    data = load_dataset("perov5", data_root=str(root), cache_dir=str(tmp_path / "cache"))
    assert len(data.splits["train"]) + len(data.splits["holdout"]) == 60
    assert len(data.skipped) == len(bad_cifs)
    log = pd.read_csv(data.skipped_csv)
    assert sorted(log.id) == sorted(bad["material_id"])
    again = load_dataset("perov5", data_root=str(root), cache_dir=str(tmp_path / "cache"))
    assert again.from_cache and len(again.skipped) == len(bad_cifs)


def test_missing_data_root_says_where_it_looked_and_what_to_set(tmp_path):
    with pytest.raises(
        DataRootError, match=r"nowhere \(from --data-root\) is not a folder; point GENDESIGN_DATA"
    ):
        load_dataset("mp20", data_root=str(tmp_path / "nowhere"))


def test_missing_source_file_and_unknown_dataset(tmp_path, monkeypatch):
    """A mirror without a registered file: it is fetched, and offline (a dead proxy stands
    in for no network) the sentence names the file, its URL and the variable to set."""
    from helpers.http_mirror import free_port

    (tmp_path / "perov_5").mkdir()
    for variable in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("GENDESIGN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(
        DataRootError,
        match=r"perov_5/val\.csv is not on this machine and could not be downloaded from "
        r"https://raw\.githubusercontent\.com/.*; set GENDESIGN_DATA",
    ):
        load_dataset("perov5", data_root=str(tmp_path))
    with pytest.raises(InputError, match="unknown dataset 'mp21'; known datasets: mp20, perov5"):
        load_dataset("mp21")


def test_config_errors_name_the_field(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("dataset: perov5\nmax_atom: 12\n")
    with pytest.raises(
        ConfigError, match=r"data\.yaml: unknown field 'max_atom' \(did you mean 'max_atoms'\?\)"
    ):
        load_config(DataConfig, path)
    path.write_text("dataset: perov5\nholdout_fraction: 1.5\n")
    with pytest.raises(ConfigError, match=r"field 'holdout_fraction': .*less than 1"):
        load_config(DataConfig, path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(DataConfig, tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="must look like field=value"):
        load_config(DataConfig, overrides=["max_atoms"])
    with pytest.raises(ConfigError, match=r"load_dataset: unknown field 'max_atom' \(did you mean"):
        load_dataset("perov5", max_atom=3)
