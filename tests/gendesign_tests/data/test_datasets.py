"""Dataset protocol: splits, seeded holdout, train-only scalers, vocabulary, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice

from gendesign.config import load_config
from gendesign.data.datasets import _draw_holdout, load_dataset
from gendesign.data.lattice import matrix_from_params, params_from_matrix
from gendesign.data.preprocess import DataConfig
from gendesign.data.readers import read_mattergen_cache


def test_mp20_protocol_trains_on_val_with_a_5_percent_holdout_and_tests_on_test(mp20, data_root):
    train, holdout, test = (mp20.splits[s] for s in ("train", "holdout", "test"))
    assert (len(train), len(holdout), len(test)) == (9047 - 452, 452, 9046)
    val_ids = set(np.load(data_root / "mp_20/mattergen_cache/val/structure_id.npy").tolist())
    assert set(train.ids) | set(holdout.ids) == val_ids
    assert not set(train.ids) & set(holdout.ids)
    assert not set(test.ids) & val_ids
    assert mp20.spec.protocol == "mp20-reduced"
    assert mp20.spec.targets == ("formation_energy_per_atom", "band_gap")
    assert int(train.num_atoms.max()) <= 20


def test_holdout_draw_is_seeded(perov5):
    train = perov5.splits["train"]
    a_train, a_hold = _draw_holdout(train, 0.1, seed=7)
    b_train, b_hold = _draw_holdout(train, 0.1, seed=7)
    _, c_hold = _draw_holdout(train, 0.1, seed=8)
    assert a_hold.ids == b_hold.ids and a_train.ids == b_train.ids
    assert a_hold.ids != c_hold.ids
    assert len(a_hold) == round(0.1 * len(train))
    assert torch.equal(a_hold.frac_coords, b_hold.frac_coords)


def test_scalers_are_fit_on_train_only(mp20):
    train = mp20.splits["train"]
    params = train.lattice_params()
    torch.testing.assert_close(mp20.lattice_scaler.mean, params.mean(0))
    torch.testing.assert_close(mp20.lattice_scaler.std, params.std(0, unbiased=False))
    everything = torch.cat([mp20.splits[s].lattice_params() for s in ("train", "holdout", "test")])
    assert not torch.allclose(mp20.lattice_scaler.mean, everything.mean(0))
    # NaN-aware: bulk modulus is missing for most crystals
    column = mp20.property_names.index("bulk_modulus")
    values = train.properties[:, column]
    assert torch.isnan(values).float().mean() > 0.8
    torch.testing.assert_close(
        mp20.property_scaler.mean[column], values[~torch.isnan(values)].mean()
    )
    scaled = mp20.property_scaler.transform(train.properties)
    finite = torch.isfinite(scaled)
    assert torch.equal(torch.isnan(scaled), torch.isnan(train.properties))
    assert abs(float(scaled[finite[:, 0], 0].mean())) < 1e-9
    torch.testing.assert_close(
        mp20.property_scaler.inverse_transform(scaled), train.properties, equal_nan=True
    )


def test_vocabulary_comes_from_train(mp20, carbon24):
    train_elements = set(mp20.splits["train"].atom_types.unique().tolist())
    assert set(mp20.vocabulary.atomic_numbers) == train_elements
    assert carbon24.vocabulary.symbols == ["C"]
    encoded = mp20.vocabulary.encode(mp20.splits["train"].atom_types[:50])
    assert torch.equal(mp20.vocabulary.decode(encoded), mp20.splits["train"].atom_types[:50])


def test_perov5_and_carbon24_splits_and_targets(perov5, carbon24):
    assert len(perov5.splits["train"]) + len(perov5.splits["holdout"]) == 3787
    assert len(perov5.splits["test"]) == 3785
    assert perov5.spec.targets == ("heat_ref",)
    assert set(perov5.splits["test"].num_atoms.tolist()) == {5}
    assert len(carbon24.splits["train"]) + len(carbon24.splits["holdout"]) == 2032
    assert len(carbon24.splits["test"]) == 2030
    assert set(carbon24.splits["train"].atom_types.tolist()) == {6}


@pytest.mark.needs_data
def test_supercon_gives_tc_in_kelvin_with_its_own_holdout(session_cache):
    supercon = load_dataset("supercon")  # the files store -Tc
    assert [len(supercon.splits[s]) for s in ("train", "holdout", "test")] == [846, 105, 105]
    tc = torch.cat([supercon.splits[s].properties[:, 0] for s in ("train", "holdout", "test")])
    assert tc.min() >= 0 and tc.max() > 20  # K


def test_preprocessing_keeps_the_crystal_and_canonicalises_the_lattice(mp20, data_root):
    raw = read_mattergen_cache(data_root / "mp_20/mattergen_cache/test")
    index = {item_id: i for i, item_id in enumerate(raw.ids)}
    test = mp20.splits["test"]
    matcher = StructureMatcher()
    for k in range(0, 9046, 300):
        processed = test.structure(k)
        assert matcher.fit(processed, raw.structures[index[test.ids[k]]])
        canonical = Lattice.from_parameters(*processed.lattice.abc, *processed.lattice.angles)
        np.testing.assert_allclose(processed.lattice.matrix, canonical.matrix, atol=1e-8)
    assert float(test.frac_coords.min()) >= 0.0 and float(test.frac_coords.max()) < 1.0


def test_max_atoms_filter_records_what_it_dropped(carbon24, tmp_path):
    small = load_dataset("carbon24", max_atoms=12, cache_dir=str(tmp_path))
    kept = sum(len(small.splits[s]) for s in ("train", "holdout", "test"))
    assert kept + len(small.skipped) == 2032 + 2030
    assert len(small.skipped) > 0
    assert {s.reason for s in small.skipped} == {"more than max_atoms=12 atoms"}
    assert int(small.splits["train"].num_atoms.max()) <= 12


def test_config_file_drives_loading(perov5):
    config = load_config(DataConfig, "configs/data/perov5.yaml", overrides=["seed=42"])
    data = load_dataset(config)
    assert data.from_cache and data.splits["holdout"].ids == perov5.splits["holdout"].ids


def test_crystal_graphs_batch_through_the_pyg_loader(mp20):
    loader = mp20.loader("train", batch_size=32, shuffle=True, seed=3)
    batch = next(iter(loader))
    assert batch.num_graphs == 32
    assert batch.lattice.shape == (32, 3, 3) and batch.y.shape == (32, 4)
    assert int(batch.num_atoms.sum()) == batch.frac_coords.shape[0] == batch.atom_types.shape[0]
    assert torch.equal(batch.y_mask, torch.isfinite(batch.y))
    assert len(batch.material_id) == 32
    again = next(iter(mp20.loader("train", batch_size=32, shuffle=True, seed=3)))
    assert again.material_id == batch.material_id  # seeded shuffling
    # Cartesian positions of the batch agree with pymatgen's for one member
    first = mp20.splits["train"].ids.index(batch.material_id[0])
    expected = mp20.splits["train"].structure(first).cart_coords
    np.testing.assert_allclose(batch.cart_coords[: len(expected)].numpy(), expected, atol=1e-4)


def test_unwrapped_structures_round_trip(perov5):
    crystals = perov5.crystal_set("test")
    assert len(crystals) == 3785 and crystals.property_names == perov5.property_names
    assert crystals.structures[0].is_ordered


@pytest.mark.parametrize("seed", [0, 1])
def test_lattice_params_round_trip_and_match_pymatgen(seed):
    generator = torch.Generator().manual_seed(seed)
    lengths = 2 + 8 * torch.rand(100, 3, generator=generator, dtype=torch.float64)
    angles = 60 + 60 * torch.rand(100, 3, generator=generator, dtype=torch.float64)
    angles[:, 2] = angles[:, :2].mean(1)  # keep triples geometrically valid
    matrix = matrix_from_params(lengths, angles)
    for k in range(0, 100, 10):
        expected = Lattice.from_parameters(*lengths[k].tolist(), *angles[k].tolist()).matrix
        np.testing.assert_allclose(matrix[k].numpy(), expected, atol=1e-10)
    back_lengths, back_angles = params_from_matrix(matrix)
    torch.testing.assert_close(back_lengths, lengths)
    torch.testing.assert_close(back_angles, angles)
