"""The crystalflow generator: its two stages, their training, checkpoints and sampling."""

from __future__ import annotations

import glob
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure

from gendesign.audit.composition import charge_balanced
from gendesign.config import load_config
from gendesign.data.chemistry_table import canonical_elements, load_chemistry_data
from gendesign.data.lattice import params_from_matrix
from gendesign.errors import ConfigError, InputError
from gendesign.model.common.constraints import Constraints
from gendesign.model.common.symmetrise import symmetrise
from gendesign.model.crystalflow.bundle import SUMMARY_HEADING, bundle, rebuild_templates
from gendesign.model.crystalflow.config import CoordinateFlowConfig, FlowTrainingConfig
from gendesign.model.crystalflow.sampling import conditions_for
from gendesign.model.crystalflow.torus_flow import (
    CoordinateFlow,
    cell_pairs,
    integrate,
    lattice_invariants,
)
from gendesign.model.generator import Generator, load_generator_checkpoint
from gendesign.ranges import Range


@pytest.fixture(scope="module")
def tiny_flow(perov5, tmp_path_factory):
    """Both tiny stages trained for 3 epochs on 512 perov5 crystals, then bundled."""
    from gendesign.model.crystalflow.training import train_flow_stage

    runs = {}
    for stage in ("chemistry", "coordinates"):
        out = tmp_path_factory.mktemp(f"tiny-{stage}")
        config = load_config(
            FlowTrainingConfig, f"configs/model/flow/tiny-{stage}.yaml", {"out_dir": str(out)}
        )
        train_flow_stage(config)
        runs[stage] = out
    folder = bundle("tiny", runs["chemistry"], runs["coordinates"], tmp_path_factory.mktemp("b"))
    return runs, folder


@pytest.fixture(scope="module")
def mp20_flow() -> Generator:
    return Generator.from_pretrained("mp20", device="cpu")


def test_both_stages_train_and_their_losses_drop(tiny_flow):
    runs, folder = tiny_flow
    for stage, losses in (("chemistry", ["train_elements", "train_counts", "val_lattice"]),
                          ("coordinates", ["train_coordinates"])):  # fmt: skip
        log = pd.read_csv(sorted(glob.glob(str(runs[stage] / "log" / "*" / "metrics.csv")))[-1])
        per_epoch = log.groupby("epoch")["train_loss"].mean()
        assert len(per_epoch) == 3 and per_epoch.iloc[-1] < per_epoch.iloc[0]
        assert set(losses) <= set(log.columns)
        assert (runs[stage] / "lightning" / "last.ckpt").is_file()
    checkpoint = load_generator_checkpoint(folder / "model.pt")
    assert checkpoint.dataset == "perov5" and checkpoint.units == {"heat_ref": "eV"}
    assert checkpoint.metrics["chemistry"]["epochs"] == 3
    assert {
        "model.pt",
        "training_summary.md",
        "chemistry_config.yaml",
        "coordinates_log.csv.gz",
    } <= {p.name for p in folder.iterdir()}


def test_a_killed_stage_resumes_from_its_last_epoch(tiny_flow):
    from gendesign.model.crystalflow.training import train_flow_stage

    runs, _ = tiny_flow
    config = load_config(
        FlowTrainingConfig,
        runs["coordinates"] / "config.yaml",
        {"out_dir": str(runs["coordinates"]), "max_epochs": 4},
    )
    train_flow_stage(config, resume=True)
    logs = sorted(glob.glob(str(runs["coordinates"] / "log" / "*" / "metrics.csv")))
    resumed = pd.read_csv(logs[-1])
    assert len(logs) == 2 and sorted(resumed["epoch"].unique()) == [3]


def test_checkpoint_round_trip_gives_identical_samples(tiny_flow, tmp_path):
    _, folder = tiny_flow
    generator = Generator.from_checkpoint(folder / "model.pt", device="cpu")
    path = generator.checkpoint.save(tmp_path / "copy.pt")
    again = Generator.from_checkpoint(path, device="cpu")
    a, b = generator.sample(8, seed=3), again.sample(8, seed=3)
    assert all(x == y for x, y in zip(a, b, strict=True))


def test_rebuilding_templates_in_place_keeps_the_library_and_the_rest_of_the_summary(
    tiny_flow, tmp_path
):
    _, folder = tiny_flow
    for name in ("model.pt", "training_summary.md"):
        shutil.copyfile(folder / name, tmp_path / name)
    summary = tmp_path / "training_summary.md"
    summary.write_text(summary.read_text() + "\nA closing paragraph.\n")
    before = load_generator_checkpoint(tmp_path / "model.pt")
    before.model.templates = None
    before.save(tmp_path / "model.pt")
    assert "templates" in rebuild_templates(tmp_path / "model.pt")
    rebuilt = load_generator_checkpoint(tmp_path / "model.pt")
    original = load_generator_checkpoint(folder / "model.pt")
    assert rebuilt.model.templates.crystals == original.model.templates.crystals > 0
    assert rebuilt.metrics["templates"] == original.metrics["templates"]
    text = summary.read_text()
    assert text.count(SUMMARY_HEADING) == 1 and text.endswith("A closing paragraph.\n")


def test_a_bundle_takes_a_newer_coordinate_stage_and_keeps_the_rest(tiny_flow, tmp_path):
    """A coordinates run continued from the bundle (finetune_from its model.pt, under
    template paths) replaces the bundle's coordinate stage in place."""
    from gendesign.model.crystalflow.bundle import replace_stage
    from gendesign.model.crystalflow.training import train_flow_stage

    runs, folder = tiny_flow
    bundle_copy = tmp_path / "bundle"
    shutil.copytree(folder, bundle_copy)
    config = load_config(
        FlowTrainingConfig,
        runs["coordinates"] / "config.yaml",
        {"out_dir": str(tmp_path / "run"), "max_epochs": 1, "template_paths": 0.5,
         "finetune_from": str(bundle_copy / "model.pt")},
    )  # fmt: skip
    stage = torch.load(train_flow_stage(config), weights_only=True)
    before = load_generator_checkpoint(bundle_copy / "model.pt")
    chemistry_section = (bundle_copy / "training_summary.md").read_text().split("\n## ")[1]
    assert "replaced" in replace_stage(bundle_copy / "model.pt", "coordinates", tmp_path / "run")
    after = load_generator_checkpoint(bundle_copy / "model.pt")
    new_weights = after.model.coordinates.state_dict()
    assert all(torch.equal(new_weights[k], v) for k, v in stage["state_dict"].items())
    for name, value in before.model.chemistry.state_dict().items():  # label bank: NaN = no label
        torch.testing.assert_close(after.model.chemistry.state_dict()[name], value, rtol=0, atol=0,
                                   equal_nan=True)  # fmt: skip
    assert after.training_config["coordinates"]["template_paths"] == 0.5
    assert after.model.templates.crystals == before.model.templates.crystals
    text = (bundle_copy / "training_summary.md").read_text()
    assert text.count("## coordinates stage") == 1 and text.split("\n## ")[1] == chemistry_section
    assert SUMMARY_HEADING in text and "1 epochs" in text.split("## coordinates stage")[1]


def test_bad_checkpoints_and_mismatched_stages_fail_in_one_sentence(tiny_flow, tmp_path):
    runs, folder = tiny_flow
    payload = torch.load(folder / "model.pt", weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(InputError, match="format version 99 is not supported"):
        Generator.from_checkpoint(tmp_path / "future.pt")
    with pytest.raises(InputError, match="not a crystalflow coordinates stage"):
        bundle("x", runs["chemistry"], runs["chemistry"], tmp_path)
    with pytest.raises(InputError, match="generative model checkpoint not found"):
        Generator.from_checkpoint(tmp_path / "absent.pt")


# ----------------------------------------------------------------- composition decoder


@pytest.mark.parametrize(
    ("elements", "exclude", "atoms"),
    [("Li,Fe,P,O", None, "4:12"), (None, "O,S,Se,Te,F,Cl,Br,I,N", "6"), (None, None, "1:3")],
)
def test_every_sample_honours_elements_exclude_and_atoms(mp20_flow, elements, exclude, atoms):
    constraints = Constraints.parse(elements=elements, exclude=exclude, atoms=atoms)
    structures, table = mp20_flow.sample_table(48, seed=1, constraints=constraints)
    for structure in structures:
        symbols = {el.symbol for el in structure.composition.elements}
        assert not elements or symbols == set(elements.split(","))  # every one, only them
        assert not exclude or not symbols & set(exclude.split(","))
        raw_atoms = structure.composition.num_atoms
        assert raw_atoms == int(raw_atoms)  # integer counts
    # the composition decoder sets the atom count; symmetrisation keeps it inside the range
    assert all(constraints.atoms.contains(float(n)) for n in table["n_atoms"])
    assert table["meets_atoms"].all() and table.get("meets_elements", pd.Series([True])).all()


def test_within_allows_subsets_and_the_default_asks_for_every_element(mp20_flow):
    within = Constraints.parse(elements="Mg,Al,O", within=True)
    structures, table = mp20_flow.sample_table(48, seed=6, constraints=within)
    systems = [frozenset(el.symbol for el in s.composition.elements) for s in structures]
    assert all(system <= {"Mg", "Al", "O"} for system in systems) and table["meets_elements"].all()
    assert any(len(system) < 3 for system in systems)  # e.g. MgAl2, Al2O3: a subset will do
    # the same crystals, judged as a system request, mostly miss it
    every = Constraints.parse(elements="Mg,Al,O")
    assert sum(every.meets_elements(set(system)) for system in systems) < len(systems)
    with pytest.raises(ConfigError, match="--within needs --elements"):
        Constraints.parse(within=True)
    with pytest.raises(ConfigError, match="both asked for and excluded"):
        Constraints.parse(elements="Mg,O", exclude="O")
    with pytest.raises(ConfigError, match="at most 8 elements"):
        mp20_flow.sample(2, constraints=Constraints.parse(elements="Li,Na,K,Rb,Cs,Mg,Ca,Sr,O"))


def test_compositions_are_reproducible_per_seed_and_mostly_charge_neutral(mp20_flow):
    a, table = mp20_flow.sample_table(64, seed=5)
    b, _ = mp20_flow.sample_table(64, seed=5)
    c, _ = mp20_flow.sample_table(64, seed=6)
    assert all(x == y for x, y in zip(a, b, strict=True))
    assert any(x != y for x, y in zip(a, c, strict=True))
    assert table["charge_balanced"].mean() >= 0.9
    # formulas come from the stoichiometry decoder: few distinct elements per crystal
    species = [len(s.composition.elements) for s in a]
    assert np.median(species) <= 4


def test_the_decoder_redraws_under_the_constraints_oxidation_state_policy(mp20_flow):
    """A peroxide-prone system: each sample's flag is its policy's verdict, and under the
    common policy (O −2 only) no balanced sample is the peroxide Li2O2."""
    for policy in ("common", "permissive"):
        constraints = Constraints.parse(elements="Li,O", atoms="2:8", oxidation_states=policy)
        structures, table = mp20_flow.sample_table(32, seed=2, constraints=constraints)
        for structure, balanced in zip(structures, table["charge_balanced"], strict=True):
            symbols = tuple(el.symbol for el in sorted(structure.composition.elements))
            counts = tuple(int(structure.composition[s]) for s in symbols)
            assert bool(balanced) == charge_balanced(symbols, counts, policy)
        if policy == "common":
            assert "LiO" not in set(table.loc[table["charge_balanced"], "formula"])


def test_canonical_order_puts_cations_before_anions():
    assert canonical_elements([8, 26, 3, 15]) == [3, 26, 15, 8]  # Li Fe P O


# ----------------------------------------------------------------- conditioning


def test_conditions_are_training_labels_inside_the_target_range(mp20_flow):
    chemistry = mp20_flow.model.chemistry
    generator = torch.Generator().manual_seed(0)
    standardised = conditions_for(chemistry, {"band_gap": Range(min=1.5, max=2.5)}, 200, generator)
    values = standardised * chemistry.property_std + chemistry.property_mean
    column = chemistry.property_names.index("band_gap")
    assert ((values[:, column] >= 1.5) & (values[:, column] <= 2.5)).all()
    assert torch.isnan(values[:, 1 - column]).all()  # the other property stays unconditioned
    bank = chemistry.label_bank[:, column]
    bank = bank[torch.isfinite(bank)]
    nearest = (values[:, column, None] - bank[None, :]).abs().min(1).values
    assert (nearest < 1e-4).all()  # each is some training crystal's label


def test_conditioning_moves_the_predicted_band_gap_toward_the_target(mp20_flow):
    from predictors.inference import Predictor

    predictor = Predictor.pretrained("mp20", device="cpu")
    steered = Constraints.parse(targets=["band_gap=3:6"])
    plain = mp20_flow.sample(64, seed=2, steering_steps=0)
    aimed = mp20_flow.sample(64, seed=2, constraints=steered, steering_steps=0)
    plain_gap = predictor.predict(plain)["band_gap_mean"].mean()
    aimed_gap = predictor.predict(aimed)["band_gap_mean"].mean()
    assert aimed_gap > plain_gap + 0.5


# ----------------------------------------------------------------- periodic coordinate decoder


@pytest.fixture(scope="module")
def velocity_field():
    torch.manual_seed(0)
    network = CoordinateFlow(CoordinateFlowConfig(hidden=32, num_layers=2), num_elements=5).eval()
    num_atoms = torch.tensor([4, 3])
    species = torch.tensor([0, 1, 1, 2, 3, 4, 0])
    frac = torch.rand(7, 3)
    lattice = torch.tensor(
        np.array(
            [Lattice.from_parameters(4, 5, 6, 80, 95, 100).matrix, Lattice.hexagonal(3, 5).matrix]
        )
    )
    t = torch.tensor([0.3, 0.7])
    atoms = torch.repeat_interleave(torch.arange(2), num_atoms)

    def evaluate(frac, matrix, order=None):
        lengths, angles = params_from_matrix(matrix.double())
        invariants = lattice_invariants(lengths, angles, num_atoms)
        s = species if order is None else species[order]
        return network(frac, t, s, invariants, num_atoms, atoms, cell_pairs(num_atoms))

    return evaluate, frac, lattice


def test_velocity_is_invariant_to_rotating_the_lattice(velocity_field):
    evaluate, frac, lattice = velocity_field
    angle = 0.7
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]],
        dtype=torch.float64,
    )
    rotated = lattice @ rotation.T
    assert torch.allclose(evaluate(frac, lattice), evaluate(frac, rotated), atol=1e-5)


def test_velocity_is_invariant_to_translating_all_atoms_and_to_periodic_images(velocity_field):
    evaluate, frac, lattice = velocity_field
    base = evaluate(frac, lattice)
    shifted = (frac + torch.tensor([0.31, -0.12, 0.77])) % 1.0
    assert torch.allclose(base, evaluate(shifted, lattice), atol=1e-5)
    image = frac.clone()
    image[2] += torch.tensor([1.0, -2.0, 3.0])  # the same atom, another cell
    assert torch.allclose(base, evaluate(image, lattice), atol=1e-4)


def test_velocity_permutes_with_the_atoms(velocity_field):
    evaluate, frac, lattice = velocity_field
    order = torch.tensor([2, 0, 3, 1, 6, 4, 5])
    assert torch.allclose(
        evaluate(frac, lattice)[order], evaluate(frac[order], lattice, order), atol=1e-5
    )


def test_velocity_has_no_common_shift(velocity_field):
    evaluate, frac, lattice = velocity_field
    velocity = evaluate(frac, lattice)
    assert torch.allclose(velocity[:4].mean(0), torch.zeros(3), atol=1e-6)
    assert torch.allclose(velocity[4:].mean(0), torch.zeros(3), atol=1e-6)


def test_each_cell_integrates_under_its_own_anneal_slope():
    """A batch with slopes (0, 3) gives the first cell as an unannealed run and the
    second as an annealed one (templated and free cells share a batch so)."""
    network = CoordinateFlow(CoordinateFlowConfig(hidden=32, num_layers=2), num_elements=5)
    num_atoms = torch.tensor([4, 3])
    species = torch.tensor([0, 1, 1, 2, 3, 4, 0])
    lattice = lattice_invariants(
        torch.tensor([[4.0, 5, 6], [3, 3, 5]]), torch.tensor([[80.0, 95, 100], [90, 90, 120]]),
        num_atoms,
    )  # fmt: skip

    def run(slope):
        generator = torch.Generator().manual_seed(3)
        return integrate(network.eval(), species, lattice, num_atoms, 8, slope, generator)

    plain, annealed, mixed = run(0.0), run(3.0), run(torch.tensor([0.0, 3.0]))
    assert not torch.allclose(plain, annealed)
    assert torch.allclose(mixed[:4], plain[:4]) and torch.allclose(mixed[4:], annealed[4:])


# ----------------------------------------------------------------- symmetrisation


def test_symmetrise_snaps_a_rattled_rocksalt_and_refuses_a_clash():
    rocksalt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    rattled = rocksalt.copy()
    rattled.perturb(0.03, min_distance=0.01)
    snapped = symmetrise(rattled, symprec=0.1)
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    assert snapped is not None and SpacegroupAnalyzer(snapped, 0.01).get_space_group_number() == 225
    assert symmetrise(rattled, symprec=0.1, atoms=(8, 8)) is not None  # the conventional cell
    assert symmetrise(rattled, symprec=0.1, atoms=(3, 4)) is None  # no cell of 3-4 atoms
    assert symmetrise(rattled, symprec=0.1, min_distance=5.0) is None  # would clash


# ----------------------------------------------------------------- data and bundles


def test_chemistry_data_adds_the_mp20_train_compositions(mp20):
    data = load_chemistry_data("mp20")
    assert data.positionless_crystals == 27136
    assert len(data.train) == 27136 + len(mp20.splits["train"])
    assert set(data.holdout.ids) == set(mp20.splits["holdout"].ids)
    assert not set(data.train.ids) & set(mp20.splits["test"].ids)
    assert (data.train.counts.sum(1) == data.train.num_atoms).all()


def test_bundled_flow_model_and_the_first_generation_both_load_by_name():
    flow = Generator.from_pretrained("mp20", device="cpu")
    old = Generator.from_pretrained("mp20-cdvae", device="cpu")
    assert flow.is_flow and not old.is_flow
    assert flow.checkpoint.metrics["chemistry"]["positionless_crystals"] == 27136
    assert "train-compositions" in flow.checkpoint.protocol


def test_cli_sample_reports_charge_balance_and_refuses_foreign_options(tmp_path, gendesign_cli):
    result = gendesign_cli(
        "sample",
        "--model",
        "mp20",
        "--n",
        "8",
        "--elements",
        "Li,Fe,P,O",
        "--out",
        str(tmp_path / "s"),
    )
    assert result.returncode == 0, result.stderr
    assert "charge balanced (common oxidation states): 8/8" in result.stdout
    assert "decoded through a known framework of the formula's stoichiometry" in result.stdout
    table = pd.read_csv(tmp_path / "s" / "samples.csv")
    assert len(table) == 8 and table["meets_elements"].all()
    assert {"charge_balanced", "template_space_group", "placements", "band_gap_gnn"} <= set(
        table.columns
    )
    assert set(table["decoder"]) == {"flow", "framework"}
    refused = gendesign_cli("sample", "--model", "mp20", "--n", "2", "--levels", "10")
    assert refused.returncode != 0 and "--levels: not an option of crystalflow models" in (
        refused.stdout + refused.stderr
    )


def test_flow_sampling_settings_are_validated(mp20_flow):
    with pytest.raises(Exception, match="coordinate_steps"):
        mp20_flow.sampling_with({"coordinate_steps": 0})
    with pytest.raises(ConfigError):
        mp20_flow.sample(2, constraints=Constraints.parse(elements="Og"))


def test_steering_can_start_from_the_latents_of_known_crystals(mp20_flow, mp20):
    known = mp20.crystal_set("test").structures[:3]
    latents = mp20_flow.encode(known)
    assert latents.shape == (3, mp20_flow.model.latent_dim) and torch.isfinite(latents).all()
    steered = Constraints.parse(targets=["band_gap=1:2"])
    structures = mp20_flow.sample(
        6, seed=0, constraints=steered, start_from=known, steering_steps=20
    )
    assert len(structures) == 6
