"""Relaxing real mp20 crystals with the offline potential, and every way it can fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from gendesign.errors import ConfigError, InputError
from relax.potentials import CHGNET, MACE_MODEL_ENV, load_potential
from relax.relaxation import RelaxSettings, relax_structure


@pytest.fixture(scope="module")
def chgnet():
    return load_potential(CHGNET, device="cpu")


@pytest.fixture(scope="module")
def rattled(mp20):
    """A real mp20 test crystal, rattled (σ 0.1 Å) and strained 5 %."""
    from relax.perturb import rattle_and_strain

    structure = mp20.splits["test"].structure(2)
    return structure, rattle_and_strain([structure])[0]


def test_a_rattled_crystal_relaxes_back(chgnet, rattled):
    original, moved = rattled
    result = relax_structure(moved, chgnet)
    assert result.ok and result.reason == ""
    assert result.max_force <= 0.05 and 0 < result.steps < 500
    assert result.rms_displacement > 0.01
    relaxed_volume = result.structure.volume
    assert abs(relaxed_volume / original.volume - 1) < 0.1  # back near the DFT cell
    assert result.volume_change < 0  # the 5 % strain is undone
    assert np.isfinite(result.energy_per_atom) and chgnet.info.weights_sha256


def test_failures_are_results_with_reasons(chgnet, rattled, tmp_path):
    _, moved = rattled
    stuck = relax_structure(moved, chgnet, RelaxSettings(max_steps=2))
    assert stuck.status == "not_converged" and "after 2 steps" in stuck.reason
    slow = relax_structure(moved, chgnet, RelaxSettings(time_limit_s=1e-3))
    assert slow.status == "not_converged" and "time limit" in slow.reason
    crowded = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    close = relax_structure(crowded, chgnet)
    assert close.status == "failed" and "closer than the 0.5 Å floor" in close.reason
    exotic = Structure(Lattice.cubic(4.0), ["Cf", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    unknown = relax_structure(exotic, chgnet)
    assert unknown.status == "failed" and "Cf not in the training data" in unknown.reason
    trajectory = tmp_path / "path.extxyz"
    relax_structure(moved, chgnet, RelaxSettings(max_steps=3), trajectory=trajectory)
    from ase.io import read

    frames = read(trajectory, index=":")
    assert len(frames) == 4 and "energy" in frames[-1].calc.results


def test_potential_choice_is_checked(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="unknown potential 'mace-xl'"):
        load_potential("mace-xl")
    monkeypatch.setenv(MACE_MODEL_ENV, str(tmp_path / "absent.model"))
    with pytest.raises(InputError, match="absent.model: MACE model file not found"):
        load_potential("auto")


def test_dft_energies_reproduce_the_materials_project_hull(data_root):
    import pandas as pd
    from pymatgen.core import Composition

    from relax.reference_hull import mp20_hull_reference

    reference = mp20_hull_reference(data_root)
    assert len(reference) > 45_000  # train 27,136 + val 9,047 + test 9,046
    rows = pd.read_csv(data_root / "mp_20" / "biternary" / "test.csv.gz").sample(
        150, random_state=0
    )
    ours = [
        reference.e_above_hull(Composition(r.pretty_formula), r.formation_energy_per_atom)
        for r in rows.itertuples()
    ]
    assert all(result.status == "ok" for result in ours)
    errors = np.abs([r.e_above_hull for r in ours] - rows["e_above_hull"].to_numpy())
    assert errors.mean() < 0.005  # eV/atom; MP's own hull has more phases than MP-20
    unstable = reference.e_above_hull(Composition("NaCl"), -1.0)  # DFT: about -2.1 eV/atom
    assert unstable.e_above_hull > 1.0 and unstable.decomposition == "1 NaCl"
    # A ten-element composition (as campaigns generate): its hull is the cheapest mix of
    # reference phases, whose atom fractions add up to the whole.
    many = reference.e_above_hull(Composition("K2Na2TmCuNiBiAuS3Cl3O5"), -1.36)
    fractions = [float(part.split()[0]) for part in many.decomposition.split(" + ")]
    assert many.status == "ok" and 0 < many.e_above_hull < 2 and abs(sum(fractions) - 1) < 0.01
    missing = reference.e_above_hull(Composition("RaO"), -1.0)
    assert (
        missing.status == "no reference" and "Ra absent from the mp20 reference" in missing.reason
    )


def test_relax_command_writes_rows_as_it_goes_and_resumes(mp20, gendesign_cli, tmp_path):
    import pandas as pd

    test = mp20.splits["test"]
    small = [i for i in range(200) if int(test.num_atoms[i]) <= 3][:3]
    folder = tmp_path / "cifs"
    folder.mkdir()
    for i in small[:2]:
        test.structure(i).to(filename=str(folder / f"{test.ids[i]}.cif"))
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a 4.0\n")
    out = tmp_path / "relaxed"
    args = [
        "relax",
        str(folder),
        "--potential",
        "chgnet-0.3.0",
        "--out",
        str(out),
        "--max-steps",
        "60",
    ]
    first = gendesign_cli(*args)
    assert first.returncode == 0, first.stderr
    table = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert len(table) == 3 and "Potential: chgnet-0.3.0" in first.stdout
    broken = table[table["id"].str.contains("broken")].iloc[0]
    assert broken["status"] == "failed" and broken["reason"]
    relaxed = table[~table["id"].str.contains("broken")]
    assert set(relaxed["status"]) <= {"converged", "not_converged"}
    assert (relaxed["potential"] == "chgnet-0.3.0").all() and relaxed[
        "potential_sha256"
    ].str.len().eq(64).all()
    assert len(list((out / "relaxed").glob("*.cif"))) == 2
    # CHGNet's bundled μ table turns energies into formation energies and hull distances.
    # Only a converged relaxation gets an E_hull; an unconverged one is marked, its
    # last-step estimate kept apart.
    converged = relaxed[relaxed["status"] == "converged"]
    assert (converged["hull_status"] == "ok").all() and len(converged)
    assert np.isfinite(converged["e_above_hull_eV_atom"].astype(float)).all()
    unconverged = relaxed[relaxed["status"] == "not_converged"]
    assert unconverged["hull_status"].str.startswith("not converged").all()
    assert (unconverged["e_above_hull_eV_atom"] == "").all()

    # A third crystal arrives; a rerun relaxes only it and keeps the earlier rows as they were.
    test.structure(small[2]).to(filename=str(folder / f"{test.ids[small[2]]}.cif"))
    second = gendesign_cli(*args)
    assert second.returncode == 0, second.stderr
    again = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert len(again) == 4 and again["id"].is_unique
    pd.testing.assert_frame_equal(again.iloc[:3], table)


@pytest.fixture(scope="module")
def tiny_mace_file(chgnet, mp20, tmp_path_factory):
    """A tiny MACE fitted to CHGNet energies and forces of rattled mp20 crystals."""
    from helpers.tiny_mace import fit_tiny_mace
    from pymatgen.io.ase import AseAtomsAdaptor

    rng = np.random.default_rng(1)
    labelled = []
    for index in range(4):
        base = AseAtomsAdaptor.get_atoms(mp20.splits["test"].structure(index))
        for _ in range(4):
            atoms = base.copy()
            atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
            atoms.calc = chgnet.calculator
            atoms.info["REF_energy"] = float(atoms.get_potential_energy())
            atoms.arrays["REF_forces"] = atoms.get_forces().copy()
            atoms.calc = None
            labelled.append(atoms)
    return fit_tiny_mace(labelled, tmp_path_factory.mktemp("mace") / "tiny.model")


def test_the_mace_path_relaxes_with_a_real_mace_model_file(tiny_mace_file, mp20, monkeypatch):
    from relax.potentials import file_sha256

    monkeypatch.setenv(MACE_MODEL_ENV, str(tiny_mace_file))
    mace = load_potential("auto", device="cpu")  # the environment variable wins over CHGNet
    assert mace.info.name == "mace" and mace.info.package_version.startswith("mace-torch")
    assert mace.info.weights_sha256 == file_sha256(tiny_mace_file)
    structure = mp20.splits["test"].structure(1)
    assert not mace.unsupported_elements(structure.atomic_numbers)
    moved = structure.copy()
    moved.perturb(0.05)
    result = relax_structure(moved, mace, RelaxSettings(max_steps=100, fmax=0.1))
    assert result.status in ("converged", "not_converged"), result.reason
    assert result.steps > 0 and np.isfinite(result.energy_per_atom)
    outsider = Structure(Lattice.cubic(4.0), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    refused = relax_structure(outsider, mace)
    assert refused.status == "failed" and "not in the training data of mace" in refused.reason


def test_element_references_turn_potential_energies_into_formation_energies(chgnet, mp20, tmp_path):
    from relax.energies import ElementReferences, fit_element_references, single_point_energies

    # Oxides and halides of a few main-group metals: every held-out element is fitted.
    allowed = {"Li", "Na", "K", "Mg", "Ca", "Sr", "Al", "O", "F", "Cl", "S"}
    from pymatgen.core import Element

    train = mp20.splits["train"]
    allowed_z = {Element(symbol).Z for symbol in allowed}
    chosen = [
        i
        for i in range(len(train))
        if set(train.atom_types[train.atom_slice(i)].tolist()) <= allowed_z
        and int(train.num_atoms[i]) <= 12
    ][:60]
    structures = [train.structure(i) for i in chosen]
    column = train.property_names.index("formation_energy_per_atom")
    dft = train.properties[chosen, column].numpy()
    energies = single_point_energies(structures, chgnet)
    fit, held = slice(0, 45), slice(45, None)
    references = fit_element_references(
        [s.composition for s in structures[fit]], energies[fit], dft[fit], chgnet, "test slice"
    )
    assert references.fit_mae < 0.1 and references.potential == CHGNET
    predicted = [
        references.formation_energy_per_atom(s.composition, e)
        for s, e in zip(structures[held], energies[held], strict=True)
    ]
    assert np.nanmean(np.abs(np.array(predicted) - dft[held])) < 0.2  # eV/atom, unseen crystals
    assert np.isnan(references.formation_energy_per_atom(Structure(
        Lattice.cubic(3.0), ["Cs"], [[0, 0, 0]]).composition, -1.0))  # fmt: skip
    again = ElementReferences.load(references.save(tmp_path / "mu.json"))
    assert again == references

    # Relaxed rows carry formation energy and energy above the MP-20 hull.
    from relax.reference_hull import mp20_hull_reference
    from relax.runner import relax_structures

    table = relax_structures(
        structures[held][:2], chgnet, RelaxSettings(max_steps=40), references=references,
        hull=mp20_hull_reference(),
    )  # fmt: skip
    assert list(table["hull_status"]) == ["ok", "ok"]
    assert (
        np.isfinite(table["e_above_hull_eV_atom"]).all()
        and table["decomposition"].str.len().gt(0).all()
    )
    assert np.abs(table["e_form_eV_atom"] - dft[held][:2]).max() < 0.5


def test_batched_relaxation_follows_the_same_path_as_the_ase_loop(chgnet, mp20):
    from relax.batched import relax_batched
    from relax.perturb import rattle_and_strain

    test = mp20.splits["test"]
    moved = rattle_and_strain([test.structure(i) for i in (0, 2, 5)], seed=3)
    settings = RelaxSettings(batch_atoms=30)  # forces in-flight swapping between batches
    batched = relax_batched(moved, chgnet, settings)
    one_by_one = [relax_structure(s, chgnet, settings) for s in moved]
    for ours, theirs in zip(batched, one_by_one, strict=True):
        assert ours.status == theirs.status == "converged"
        assert ours.steps == theirs.steps
        assert abs(ours.energy_per_atom - theirs.energy_per_atom) < 1e-4  # eV/atom
        assert abs(ours.volume_change - theirs.volume_change) < 1e-3
        assert ours.max_force <= settings.fmax


def test_batched_relaxation_records_every_failure_and_finishes_the_rest(chgnet, rattled):
    from relax.batched import relax_batched

    _, moved = rattled
    crowded = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    exotic = Structure(Lattice.cubic(4.0), ["Am", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    results = relax_batched([crowded, moved, exotic], chgnet)
    assert [r.status for r in results] == ["failed", "converged", "failed"]
    assert "closer than the 0.5 Å floor" in results[0].reason
    assert "Am not in the training data of chgnet-0.3.0" in results[2].reason

    stuck = relax_batched([moved], chgnet, RelaxSettings(max_steps=2))[0]
    assert stuck.status == "not_converged" and "after 2 steps" in stuck.reason
    slow = relax_batched([moved], chgnet, RelaxSettings(time_limit_s=1e-3))[0]
    assert slow.status == "not_converged" and "time limit" in slow.reason
    assert 0 < slow.seconds < 1.0  # its own compute, not the wall time of the whole call
    # A ceiling below any real energy stands in for a potential that runs away.
    runaway = relax_batched([moved], chgnet, RelaxSettings(max_abs_energy_per_atom=1.0))[0]
    assert runaway.status == "failed" and "energy exploded" in runaway.reason


def test_the_mace_path_relaxes_in_batches_and_reports_nan_as_a_failure(
    tiny_mace_file, mp20, tmp_path
):
    import torch

    from relax.batched import relax_batched

    mace = load_potential("mace", path=tiny_mace_file, device="cpu")
    test = mp20.splits["test"]
    moved = [test.structure(i) for i in (1, 3)]
    for structure in moved:
        structure.perturb(0.05)
    settings = RelaxSettings(max_steps=60, fmax=0.1)
    batched = relax_batched(moved, mace, settings)
    one_by_one = [relax_structure(s, mace, settings) for s in moved]
    for ours, theirs in zip(batched, one_by_one, strict=True):
        assert ours.status == theirs.status and ours.steps == theirs.steps > 0
        assert abs(ours.energy_per_atom - theirs.energy_per_atom) < 1e-5
    # no μ table for this model yet: fitted on first use on the MP-20 crystals of its elements
    from relax.energies import ElementReferences, cached_references_path
    from relax.runner import relax_structures

    table = relax_structures(moved, mace, settings)
    references = ElementReferences.load(cached_references_path(mace))
    assert references.potential == "mace" and references.n_structures > 0
    assert not table["hull_status"].str.contains("no element reference energies").any()

    # A model file whose weights went bad gives NaN energies: a failure, not a crash.
    model = torch.load(tiny_mace_file, weights_only=False)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    broken_file = tmp_path / "broken.model"
    torch.save(model, broken_file)
    broken = load_potential("mace", path=broken_file, device="cpu")
    for result in (relax_structure(moved[0], broken), relax_batched(moved[:1], broken)[0]):
        assert result.status == "failed" and "NaN" in result.reason


def test_a_relaxation_that_merges_two_atoms_fails_instead_of_converging():
    """Seen on a generated Tm2LuMgAl2: two Tm relaxed onto one site, which the potential
    then counts once, and FIRE reported convergence at a meaningless energy."""
    from ase import Atoms

    from relax.relaxation import Stop, make_result

    start = Atoms("Tm2Al", scaled_positions=[[0, 0, 0], [0.3, 0, 0], [0.5, 0.5, 0.5]],
                  cell=[4.0, 4.0, 4.0], pbc=True)  # fmt: skip
    merged = start.copy()
    merged.set_scaled_positions([[0, 0, 0], [1.0001, 0, 0], [0.5, 0.5, 0.5]])
    settings = RelaxSettings()
    result = make_result(merged, start, 40, Stop("converged"), -12.0, 0.01, settings, 1.0)
    assert result.status == "failed" and result.structure is None
    assert "collapsed to 0.00 Å apart" in result.reason and "0.5 Å floor" in result.reason
    kept = make_result(start, start, 40, Stop("converged"), -12.0, 0.01, settings, 1.0)
    assert kept.ok and kept.structure is not None


def test_one_stop_rule_decides_for_both_paths():
    from relax.relaxation import stop_rule

    settings = RelaxSettings(fmax=0.05, max_steps=10, time_limit_s=5.0)
    assert stop_rule(-3.0, True, 0.2, 3, 1.0, settings) is None  # keep going
    assert stop_rule(-3.0, True, 0.01, 3, 1.0, settings).status == "converged"
    assert stop_rule(float("nan"), True, 0.2, 3, 1.0, settings).status == "failed"
    assert stop_rule(-3.0, False, 0.2, 3, 1.0, settings).reason.startswith("energy or forces")
    assert "exploded" in stop_rule(-80.0, True, 0.2, 3, 1.0, settings).reason
    assert stop_rule(-3.0, True, 0.2, 10, 1.0, settings).status == "not_converged"
    timed_out = stop_rule(-3.0, True, 0.2, 4, 6.0, settings)
    assert timed_out.status == "not_converged" and "time limit of 5 s" in timed_out.reason
    # Convergence wins over the step and time limits reached in the same step.
    assert stop_rule(-3.0, True, 0.01, 10, 6.0, settings).status == "converged"


def test_an_unconverged_energy_gets_no_hull_distance(chgnet):
    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.core import Composition

    from relax.energies import ElementReferences, references_path
    from relax.hull import HullReference
    from relax.stability import stability_columns

    references = ElementReferences.load(references_path(chgnet))
    hull = HullReference.from_entries([PDEntry(Composition("NaCl"), -2 * 2.0)], "hand-made")
    salt = Composition("NaCl")
    final = stability_columns(salt, -2 * 3.5, references, hull, "chgnet-0.3.0")
    stuck = stability_columns(salt, -2 * 3.5, references, hull, "chgnet-0.3.0", converged=False)
    assert math.isfinite(final["e_above_hull_eV_atom"])
    assert math.isnan(stuck["e_above_hull_eV_atom"]) and math.isnan(stuck["e_form_eV_atom"])
    assert stuck["e_above_hull_unconverged_eV_atom"] == final["e_above_hull_eV_atom"]
    assert stuck["hull_status"].startswith("not converged")
