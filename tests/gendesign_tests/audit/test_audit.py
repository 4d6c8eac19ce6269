"""The structure audit on real crystals: per-structure verdicts, set metrics, outputs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from ase.io import write as ase_write
from helpers import REPO
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from scipy.stats import wasserstein_distance

from gendesign.audit import audit, audit_structure
from gendesign.audit.composition import smact_validity, structure_smact_validity
from gendesign.audit.fingerprints import ORBIT_SYMPREC, _site_featurizer, structure_fingerprint
from gendesign.audit.matching import (
    _matcher,
    duplicate_of,
    lattices_can_match,
    novelty_classes,
    unit_lattice,
)
from gendesign.audit.reference import resolve_reference
from gendesign.audit.reference_cache import profile_cache_path
from gendesign.audit.set_metrics import CompositionStandardizer, coverage
from gendesign.audit.symmetry import equivalent_atoms
from gendesign.data.geometry import lattice_problem, min_periodic_distance
from gendesign.data.inputs import GENERATED_STRUCTURES_FILE
from gendesign.data.known_crystals import KnownCrystals, describe, prototype_label
from gendesign.errors import ConfigError


def rock_salt(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def write_cifs(structures, ids, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for structure, item_id in zip(structures, ids, strict=True):
        structure.to(filename=str(folder / f"{item_id}.cif"))
    return folder


@pytest.fixture(scope="module")
def mp20_slice(mp20, tmp_path_factory):
    """The first 40 mp20 test crystals as a CIF folder."""
    crystals = mp20.crystal_set("test").subset(range(40))
    folder = tmp_path_factory.mktemp("mp20-slice")
    return write_cifs(crystals.structures, crystals.ids, folder), crystals


# --------------------------------------------------------------------------- per structure


def test_rock_salt_is_valid_with_the_right_symmetry():
    row = audit_structure(rock_salt()).row
    assert row["valid"] and row["struct_valid"] and row["comp_valid"] and row["reason"] == ""
    assert row["spacegroup_0.1"] == row["spacegroup_0.01"] == 225
    assert row["spacegroup_symbol_0.1"] == "Fm-3m" and row["crystal_system"] == "cubic"
    assert row["min_distance_A"] == pytest.approx(5.64 / 2)
    assert row["density_g_cm3"] == pytest.approx(2.17, abs=0.02)  # NaCl, measured 2.165
    assert (row["formula"], row["reduced_formula"], row["n_atoms"], row["n_elements"]) == (
        "Na4Cl4",
        "NaCl",
        8,
        2,
    )


def test_atoms_pushed_closer_than_half_an_angstrom_are_caught(mp20):
    structure = mp20.crystal_set("test").structures[0].copy()
    assert audit_structure(structure).row["struct_valid"]
    # Put site 1 at 0.3 Å from site 0 along x.
    target = structure.cart_coords[0] + np.array([0.3, 0.0, 0.0])
    structure.replace(1, structure[1].specie, target, coords_are_cartesian=True)
    row = audit_structure(structure).row
    assert not row["struct_valid"] and not row["valid"]
    assert row["min_distance_A"] == pytest.approx(0.3, abs=1e-6)
    assert "0.300 Å apart, closer than 0.5 Å" in row["reason"]


def test_a_self_image_closer_than_the_rule_is_caught():
    chain = Structure(Lattice.orthorhombic(0.4, 6, 6), ["Si"], [[0, 0, 0]])
    assert min_periodic_distance(chain) == pytest.approx(0.4)
    assert not audit_structure(chain).row["struct_valid"]


def test_charge_imbalanced_rock_salt_fails_smact_with_a_reason():
    # NaCl2: a primitive rock-salt cell with an extra Cl on the tetrahedral site.
    primitive = rock_salt().get_primitive_structure()
    primitive.append("Cl", [0.25, 0.25, 0.25])
    assert primitive.composition.reduced_formula == "NaCl2"
    row = audit_structure(primitive).row
    assert row["struct_valid"] and not row["comp_valid"] and not row["valid"]
    assert row["comp_reason"] == "no combination of allowed oxidation states is charge neutral"
    assert row["reason"] == row["comp_reason"]


def test_smact_rules_follow_cdvae():
    assert smact_validity(("Na", "Cl"), (1, 1)).valid
    assert smact_validity(("Fe", "Ni"), (1, 3)).valid  # all-metal alloy
    assert smact_validity(("C",), (1,)).valid  # single element
    pauling = smact_validity(("Cs", "F"), (1, 1))
    assert pauling.valid
    # Counts are reduced by their gcd before the test: Na2Cl2 is NaCl.
    assert structure_smact_validity(rock_salt()).valid


def test_neutral_combinations_are_exactly_those_of_the_full_product(mp20):
    """The pruned search finds the same charge-neutral oxidation states, in the same
    order, as testing every combination with smact (CDVAE's loop)."""
    import itertools

    import smact

    from gendesign.audit.composition import _smact_element, neutral_combinations, reduced_counts

    compared = 0
    for structure in mp20.crystal_set("test").structures[:300]:
        symbols, counts = reduced_counts(structure)
        choices = [_smact_element(symbol)[0] for symbol in symbols]
        if not all(choices):
            continue
        stoichs = [(count,) for count in counts]
        brute = [
            states
            for states in itertools.product(*choices)
            if smact.neutral_ratios(states, stoichs=stoichs, threshold=max(counts))
        ]
        assert list(neutral_combinations(choices, counts)) == brute, structure.formula
        compared += 1
    assert compared > 250


def test_elements_without_oxidation_states_are_named_not_fatal():
    verdict = smact_validity(("Na", "Ar"), (1, 1))
    assert not verdict.valid
    assert verdict.reason == "no oxidation-state data for Ar"
    assert verdict.elements_without_oxidation_states == ("Ar",)
    # A single noble-gas element is still valid by the single-element rule.
    assert smact_validity(("Ar",), (1,)).valid


def test_degenerate_lattice_angles_are_reported():
    flat = Structure(Lattice.from_parameters(5, 5, 5, 90, 90, 0.5), ["Si"], [[0, 0, 0]])
    assert lattice_problem(flat) == "lattice angle gamma = 0.5° is degenerate"
    row = audit_structure(flat).row
    assert not row["lattice_ok"] and not row["valid"] and row["reason"] == lattice_problem(flat)


# --------------------------------------------------------------------------- set level


def test_matching_groups_duplicates_and_judges_novelty():
    salt = rock_salt()
    supercell = salt * (2, 1, 1)  # the same crystal in another cell
    # Same formula, another polymorph (CsCl type); a mere change of lattice constant would
    # match, since StructureMatcher normalises volume.
    other = Structure(Lattice.cubic(3.3), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    structures = [salt, supercell, other]
    formulas = [s.composition.reduced_formula for s in structures]
    assert duplicate_of(structures, formulas) == [0, 0, 2]
    known = KnownCrystals("one rock salt", ["rs"], [rock_salt(5.6)], [describe(rock_salt(5.6))])
    found = [m.novelty_class for m in novelty_classes([salt, other], known)]
    assert found == ["known", "novel-framework"]


def test_structure_fingerprint_per_orbit_equals_the_mean_over_every_site(mp20_slice):
    """One CrystalNN evaluation per symmetry orbit gives the per-site mean CDVAE defined."""
    _, crystals = mp20_slice
    featurizer = _site_featurizer()
    orbits = sites = 0
    for structure in crystals.structures[:12]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            every_site = np.mean(
                [featurizer.featurize(structure, i) for i in range(len(structure))], axis=0
            )
        assert np.linalg.norm(structure_fingerprint(structure) - every_site) < 0.005
        orbits += len(set(equivalent_atoms(structure, ORBIT_SYMPREC)))
        sites += len(structure)
    assert orbits < 0.8 * sites  # the shortcut does skip work on real crystals
    # No symmetry to use: every site is its own orbit.
    jittered = next(s for s in crystals.structures if len(s) > 4).copy()
    jittered.perturb(0.05, min_distance=0.01)
    assert len(set(equivalent_atoms(jittered, ORBIT_SYMPREC))) == len(jittered)


def test_coverage_counts_nearest_fingerprints_within_both_cutoffs():
    rng = np.random.default_rng(0)
    reference_s, reference_c = rng.random((10, 61)), rng.random((10, 132))
    standardize = CompositionStandardizer.fit(reference_c)
    same = coverage(reference_s, reference_c, reference_s, reference_c, (0.4, 10), standardize)
    assert (same.recall, same.precision) == (1.0, 1.0)
    # Half of the generated set far away in structure space; one NaN row (failed featurisation)
    generated_s = np.vstack([reference_s[:5], reference_s[:5] + 5.0, np.full((1, 61), np.nan)])
    generated_c = np.vstack([reference_c[:5], reference_c[:5], reference_c[:1]])
    result = coverage(
        generated_s, generated_c, reference_s, reference_c, (0.4, 10), standardize, 11
    )
    assert result.recall == pytest.approx(0.5)
    assert result.precision == pytest.approx(5 / 11)
    assert result.n_generated_with_fingerprints == 10


def test_a_test_slice_audited_against_itself_is_fully_covered(mp20_slice):
    folder, crystals = mp20_slice
    result = audit(folder, reference=str(folder), coverage="on", protocol="cdvae", workers=2)
    summary = result.summary
    assert summary.n_items == 40
    assert summary.validity.structural == 1.0
    assert summary.coverage.cov_recall == 1.0
    assert summary.coverage.cov_precision == 1.0
    # Distribution statistics compare the valid structures with the whole reference.
    table = result.table
    valid = table[table["valid"]]
    assert summary.distribution.n_sample == len(valid)
    assert summary.distribution.wdist_density == pytest.approx(
        wasserstein_distance(valid["density_g_cm3"], table["density_g_cm3"])
    )
    assert summary.novelty == 0.0  # every structure is in the reference itself
    assert summary.uniqueness == 1.0
    # CIF round trip keeps the ids and every row has a space group at both tolerances
    assert sorted(table["id"]) == sorted(crystals.ids)
    assert table["spacegroup_0.1"].notna().all() and table["spacegroup_0.01"].notna().all()


@pytest.mark.needs_data
@pytest.mark.parametrize("dataset", ["perov5", "carbon24"])
def test_perov5_and_carbon24_slices_are_covered_by_themselves(dataset, request, tmp_path):
    prepared = request.getfixturevalue(dataset)
    crystals = prepared.crystal_set("test").subset(range(20))
    folder = write_cifs(crystals.structures, crystals.ids, tmp_path / dataset)
    summary = audit(
        folder, reference=str(folder), coverage="on", protocol="cdvae", workers=2
    ).summary
    assert summary.validity.structural == 1.0
    assert summary.coverage.cov_recall == summary.coverage.cov_precision == 1.0
    if dataset == "carbon24":  # pure carbon: valid by the single-element rule
        assert summary.validity.compositional == 1.0


def test_bad_files_are_reported_and_the_audit_goes_on(mp20_slice, tmp_path):
    _, crystals = mp20_slice
    folder = write_cifs(crystals.structures[:5], crystals.ids[:5], tmp_path / "mixed")
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a 4.0\n")
    disordered = rock_salt()
    disordered.replace(0, {"Na": 0.5, "K": 0.5})
    disordered.to(filename=str(folder / "disordered.cif"))
    result = audit(folder, reference=None)
    table = result.table.set_index("id")
    assert len(table) == 7 and table["readable"].sum() == 5
    assert "could not be parsed" in table.loc["broken", "reason"]
    assert "disordered or partially occupied" in table.loc["disordered", "reason"]
    assert result.summary.validity.readable == pytest.approx(5 / 7)
    assert result.summary.coverage is None  # no reference asked for


def test_outputs_are_written_and_json_is_strict(mp20_slice, tmp_path):
    folder, _ = mp20_slice
    result = audit(folder, reference=str(folder), coverage="on", workers=2)
    paths = result.write(tmp_path / "report")
    summary = json.loads(paths["summary"].read_text(), parse_constant=pytest.fail)
    assert set(summary) == set(result.summary.to_dict())  # the typed summary, written out
    # Default protocol: coverage from the valid structures only, so the reference crystals
    # that fail SMACT need a near twin to be recalled.
    assert summary["coverage"]["cov_precision"] == 1.0
    assert summary["validity"]["overall"] <= summary["coverage"]["cov_recall"] < 1.0
    valid = summary["counts"]["valid"]
    assert summary["denominators"]["uniqueness"] == f"{valid} valid structures"
    assert result.summary.symmetry.fraction_p1 == summary["symmetry"]["fraction_p1"]
    import pandas as pd

    table = pd.read_csv(paths["structures"])
    assert len(table) == 40 and {"min_distance_A", "comp_reason", "density_g_cm3"} <= set(table)
    report = paths["report"].read_text()
    assert "## Denominators" in report and "COV-R" in report
    for name in ("validity_funnel", "space_groups", "density", "n_elements"):
        assert paths[f"plot_{name}"].stat().st_size > 5_000  # a real PNG, not an empty file


def test_reference_fingerprints_are_cached_and_a_corrupt_cache_is_rebuilt(mp20_slice, tmp_path):
    folder, _ = mp20_slice
    first = audit(folder, reference=str(folder), coverage="on", cache_dir=str(tmp_path), workers=2)
    second = audit(folder, reference=str(folder), coverage="on", cache_dir=str(tmp_path), workers=2)
    assert not first.summary.reference.profile_from_cache
    assert second.summary.reference.profile_from_cache
    np.testing.assert_array_equal(
        first.reference_profile.structure_fps, second.reference_profile.structure_fps
    )
    cache_file = profile_cache_path(resolve_reference(str(folder)), tmp_path)
    cache_file.write_bytes(b"not an npz")
    third = audit(folder, reference=str(folder), coverage="on", cache_dir=str(tmp_path), workers=2)
    assert not third.summary.reference.profile_from_cache
    assert third.summary.coverage == first.summary.coverage


def test_property_hook_and_generation_run_folder(mp20_slice, tmp_path):
    _, crystals = mp20_slice
    run = tmp_path / "run"
    run.mkdir()
    atoms = [AseAtomsAdaptor.get_atoms(s) for s in crystals.structures[:10]]
    ase_write(run / GENERATED_STRUCTURES_FILE, atoms, format="extxyz")
    reference = write_cifs(crystals.structures[:10], crystals.ids[:10], tmp_path / "ref")

    def mean_atomic_mass(structures):  # a real, deterministic property of each structure
        import pandas as pd

        return pd.DataFrame({"mass_per_atom": [s.composition.weight / len(s) for s in structures]})

    summary = audit(
        run, reference=str(reference), coverage="on", property_predictor=mean_atomic_mass
    ).summary
    assert summary.n_items == 10
    assert summary.distribution.property_wdist["mass_per_atom"] == pytest.approx(0, abs=1e-6)


def test_a_wrong_option_is_one_sentence(mp20_slice):
    folder, _ = mp20_slice
    with pytest.raises(
        ConfigError, match=r"unknown field 'n_sample' \(did you mean 'n_samples'\?\)"
    ):
        audit(folder, n_sample=10)
    with pytest.raises(ConfigError, match="protocol"):
        audit(folder, protocol="bogus")


def test_cli_audit_writes_the_report(mp20_slice, tmp_path, gendesign_cli):
    folder, _ = mp20_slice
    out = tmp_path / "cli"
    result = gendesign_cli(
        "audit", str(folder), "--reference", str(folder), "--coverage", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "COV-R" in result.stdout and "100.00 %" in result.stdout
    assert (out / "summary.json").exists() and (out / "audit_config.yaml").exists()
    assert "coverage and distributions: computed (asked for)" in result.stdout
    # A small set gets its per-structure checks and novelty at once; coverage, which
    # means little for a handful of crystals, only when asked for.
    small = gendesign_cli("audit", str(folder), "--reference", str(folder), "--out", str(out))
    assert small.returncode == 0, small.stderr
    assert "COV-R" not in small.stdout and "novelty" in small.stdout
    assert "fewer than the 100" in " ".join(small.stdout.split())
    bad = gendesign_cli("audit", str(tmp_path / "missing"), "--reference", "none")
    assert bad.returncode == 2 and "no such file or folder" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["mp20", "perov5", "carbon24"])
def test_full_test_split_audited_against_itself(dataset):
    """The calibration of BENCHMARKS.md (about 30 minutes for mp20 on 2 cores)."""
    summary = audit(f"{dataset}:test", reference=dataset, protocol="cdvae").summary
    assert summary.validity.structural == 1.0
    assert summary.coverage.cov_recall == summary.coverage.cov_precision == 1.0
    assert summary.validity.compositional < 1.0 or dataset == "carbon24"


def perovskite(a_site: str = "Sr", b_site: str = "Ti", a: float = 3.9) -> Structure:
    return Structure.from_spacegroup(
        "Pm-3m", Lattice.cubic(a), [a_site, b_site, "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0]]
    )


def test_prototype_labels_name_the_structure_type_with_elements_anonymous():
    potassium_bromide = rock_salt(6.6)
    potassium_bromide.replace_species({"Na": "K", "Cl": "Br"})
    assert prototype_label(rock_salt()) == prototype_label(potassium_bromide) == "225:a|b"
    assert prototype_label(perovskite()) == prototype_label(perovskite("Ba", "Zr", 4.2))
    assert prototype_label(perovskite()) == "221:a|b|c"
    cesium_chloride_type = Structure(Lattice.cubic(3.3), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
    assert prototype_label(cesium_chloride_type) == "221:a|b"


def test_the_lattice_check_rejects_only_pairs_the_matcher_rejects():
    matcher = _matcher()
    salt = rock_salt()
    for stretch, expected in ((1.05, True), (1.5, False)):
        strained = salt.copy()
        strained.lattice = Lattice.tetragonal(5.64, 5.64 * stretch)
        can = lattices_can_match(unit_lattice(salt), unit_lattice(strained))
        assert can is expected
        if not can:  # the check never turns away a pair the matcher would fit
            assert not matcher.fit(salt, strained)
    # a cell that cannot map is refused whatever the species (the anonymous fit too)
    tetragonal = perovskite()
    tetragonal.lattice = Lattice.tetragonal(3.9, 6.0)
    assert not lattices_can_match(unit_lattice(perovskite()), unit_lattice(tetragonal))
    assert not matcher.fit_anonymous(perovskite("Ba", "Zr"), tetragonal)


def test_substitution_derived_needs_a_known_crystal_of_the_same_prototype():
    known_salt = rock_salt(5.6)
    known_perovskite = perovskite()
    known = KnownCrystals(
        "two crystals",
        ["rs", "pv"],
        [known_salt, known_perovskite],
        [describe(known_salt, full=False), describe(known_perovskite, full=False)],
    )
    potassium_bromide = rock_salt(6.6)
    potassium_bromide.replace_species({"Na": "K", "Cl": "Br"})
    cesium_chloride_type = Structure(Lattice.cubic(3.3), ["Cs", "Cl"], [[0, 0, 0], [0.5] * 3])
    found = novelty_classes(
        [potassium_bromide, perovskite("Ba", "Zr", 4.2), cesium_chloride_type, rock_salt()], known
    )
    assert [(m.novelty_class, m.matched_id) for m in found] == [
        ("substitution-derived", "rs"),
        ("substitution-derived", "pv"),
        ("novel-framework", None),
        ("known", "rs"),
    ]


def test_duplicates_are_flagged_and_inherit_novelty(tmp_path):
    salt = rock_salt()
    cesium_chloride_type = Structure(Lattice.cubic(3.3), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
    potassium_chloride = rock_salt(6.3)
    potassium_chloride.replace_species({"Na": "K"})
    folder = write_cifs(
        [salt, salt * (2, 1, 1), cesium_chloride_type, potassium_chloride],
        ["salt", "salt-x2", "cscl", "kcl"],
        tmp_path / "in",
    )
    reference = write_cifs([rock_salt(5.5)], ["known"], tmp_path / "ref")
    result = audit(folder, reference=str(reference))
    table = result.table.set_index("id")  # the folder is read in file-name order
    order = ["cscl", "kcl", "salt-x2", "salt"]
    assert list(table.index) == order
    assert table.loc["salt", "duplicate_of"] == "salt-x2"
    assert list(table.loc[order, "unique"]) == [True, True, True, False]
    assert list(table.loc[order, "novel"]) == [True, True, False, False]
    # KCl is NaCl's structure with its elements relabelled; the duplicate inherits its class
    assert list(table.loc[order, "novelty_class"]) == [
        "novel-framework",
        "substitution-derived",
        "known",
        "known",
    ]
    assert list(table.loc[order, "matched_id"]) == ["", "known", "known", "known"]
    assert result.summary.uniqueness == pytest.approx(3 / 4)
    assert result.summary.novelty == pytest.approx(2 / 3)
    assert result.summary.novelty_classes == pytest.approx(
        {"known": 1 / 3, "substitution-derived": 1 / 3, "novel-framework": 1 / 3}
    )


def test_bundled_audit_configs_load():

    from gendesign.audit.config import AuditConfig
    from gendesign.config import load_config

    folder = REPO / "configs" / "audit"
    loaded = {path.stem: load_config(AuditConfig, path) for path in sorted(folder.glob("*.yaml"))}
    assert loaded["cdvae"].protocol == "cdvae" and loaded["default"].protocol == "default"
    assert loaded["default"].reference == "mp20" and loaded["default"].coverage_cutoffs is None


def test_cdvae_protocol_judges_charge_balance_with_smact_2014_oxidation_states():
    """AlV4C3 balances with SMACT's 2014 states (CDVAE's) but not with ICSD-24's."""
    from pymatgen.core import Lattice, Structure

    from gendesign.audit.structure_audit import audit_structure

    grid = [[x / 2, y / 2, z / 2] for x in range(2) for y in range(2) for z in range(2)]
    crystal = Structure(Lattice.cubic(6.0), ["Al", "V", "V", "V", "V", "C", "C", "C"], grid)
    strict = audit_structure(crystal, fingerprints=False).row
    cdvae = audit_structure(crystal, fingerprints=False, oxidation_states="smact14").row
    assert not strict["comp_valid"] and "comp_valid_icsd24" not in strict
    assert cdvae["comp_valid"] and cdvae["comp_valid_icsd24"] is False
