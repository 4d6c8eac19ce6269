"""The second stability judge, matgl's TensorNet on MatPES: its weights reproduce DFT
minima, the batched and ASE paths agree, and a crafted file runs no code."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers.crafted import write_crafted_torch_file
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.errors import InputError
from relax.energies import ElementReferences, references_path, single_point_energies
from relax.matgl_potentials import MATGL_POTENTIALS, matgl_folder
from relax.potentials import TENSORNET_MATPES, load_potential

pytestmark = pytest.mark.needs_data  # the weights live beside the data, under the models root


@pytest.fixture(scope="module")
def tensornet():
    return load_potential(TENSORNET_MATPES, device="cpu")


@pytest.fixture(scope="module")
def dft_crystals(mp20):
    """Twelve DFT-relaxed MP-20 test crystals: near zero forces if the weights load right."""
    return [mp20.splits["test"].structure(k) for k in range(0, 120, 10)]


def test_forces_on_dft_minima_are_small(tensornet, dft_crystals):
    """A matgl version that aggregates messages the other way gives about 1 eV/Å here."""
    largest = []
    for structure in dft_crystals:
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = tensornet.calculator
        largest.append(np.abs(atoms.get_forces()).max())
    assert np.median(largest) < 0.3, largest


def test_batched_energies_equal_the_ase_calculator(tensornet, dft_crystals):
    batched = single_point_energies(dft_crystals[:4], tensornet)
    for structure, energy in zip(dft_crystals[:4], batched, strict=True):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = tensornet.calculator
        assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-3 * len(structure))


def test_its_element_references_give_dft_formation_energies(tensornet, mp20):
    references = ElementReferences.load(references_path(tensornet))
    test = mp20.crystal_set("test").subset(range(60))
    energies = single_point_energies(test.structures, tensornet)
    ours = [
        references.formation_energy_per_atom(s.composition, e)
        for s, e in zip(test.structures, energies, strict=True)
    ]
    dft = test.properties["formation_energy_per_atom"].to_numpy(float)
    assert np.nanmean(np.abs(np.array(ours) - dft)) < 0.15  # fit MAE 0.064 on val


def test_a_crafted_or_broken_potential_folder_is_one_sentence_and_runs_nothing(tmp_path):
    real = matgl_folder(TENSORNET_MATPES)
    crafted = tmp_path / "crafted"
    shutil.copytree(real, crafted)
    marker = tmp_path / "ran"
    write_crafted_torch_file(crafted / "state.pt", marker)
    with pytest.raises(InputError, match="not a loadable matgl potential"):
        load_potential(TENSORNET_MATPES, path=crafted, device="cpu")
    assert not marker.exists()

    other = tmp_path / "other"
    shutil.copytree(real, other)
    spec = json.loads((other / "model.json").read_text())
    spec["kwargs"]["model"]["@module"] = "os"
    (other / "model.json").write_text(json.dumps(spec))
    with pytest.raises(InputError, match="not a matgl TensorNet potential"):
        load_potential(TENSORNET_MATPES, path=other, device="cpu")

    with pytest.raises(InputError, match="not a matgl potential folder .missing model.json"):
        load_potential(TENSORNET_MATPES, path=tmp_path / "nowhere", device="cpu")
    assert TENSORNET_MATPES in MATGL_POTENTIALS
