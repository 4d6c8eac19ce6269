"""The generative model on real perov5 crystals: training, sampling, constraints, checkpoints."""

from __future__ import annotations

import glob

import pandas as pd
import pytest
import torch
from pymatgen.core import Element

from gendesign.config import load_config
from gendesign.errors import ConfigError, InputError
from gendesign.model.cdvae.config import SamplingConfig, TrainingConfig
from gendesign.model.common.constraints import Constraints
from gendesign.model.generator import Generator, load_generator_checkpoint
from gendesign.ranges import Range

FAST = SamplingConfig(steps_per_level=3, levels=5, batch_size=16)


@pytest.fixture(scope="module")
def tiny_run(perov5, tmp_path_factory):
    """The tiny config trained for 4 epochs on 256 perov5 crystals (seconds)."""
    from gendesign.model.cdvae.training import train_model

    out = tmp_path_factory.mktemp("tiny")
    config = load_config(
        TrainingConfig, "configs/model/tiny.yaml", {"out_dir": str(out), "max_epochs": 4}
    )
    return train_model(config), out


@pytest.fixture(scope="module")
def tiny(tiny_run) -> Generator:
    return Generator.from_checkpoint(tiny_run[0], device="cpu")


def test_tiny_model_trains_and_its_loss_drops(tiny_run):
    path, out = tiny_run
    log = pd.read_csv(sorted(glob.glob(str(out / "log" / "*" / "metrics.csv")))[-1])
    per_epoch = log.groupby("epoch")["train_loss"].mean()
    assert len(per_epoch) == 4 and per_epoch.iloc[-1] < 0.95 * per_epoch.iloc[0]
    assert {"train_coord", "train_type", "train_kl", "val_lattice"} <= set(log.columns)
    checkpoint = load_generator_checkpoint(path)
    assert checkpoint.dataset == "perov5" and checkpoint.protocol and checkpoint.dataset_hash
    assert checkpoint.model.property_names == ["heat_ref"] and checkpoint.units == {
        "heat_ref": "eV"
    }
    assert checkpoint.metrics["epochs"] == 4 and not checkpoint.metrics["interrupted"]
    assert (out / "config.yaml").is_file() and (out / "lightning" / "last.ckpt").is_file()


def test_sampling_is_deterministic_for_a_seed(tiny):
    first = tiny.sample(6, seed=7, sampling=FAST)
    again = tiny.sample(6, seed=7, sampling=FAST)
    other = tiny.sample(6, seed=8, sampling=FAST)
    assert len(first) == 6
    for a, b in zip(first, again, strict=True):
        assert a.composition == b.composition
        assert torch.allclose(torch.tensor(a.frac_coords), torch.tensor(b.frac_coords))
    assert any(
        not torch.allclose(torch.tensor(a.lattice.matrix), torch.tensor(b.lattice.matrix))
        or a.composition != b.composition
        or not torch.allclose(torch.tensor(a.frac_coords), torch.tensor(b.frac_coords))
        for a, b in zip(first, other, strict=True)
    )


def test_every_sample_honours_element_and_atom_constraints(tiny):
    constraints = Constraints.parse(elements="Ca,Ti,O,N", atoms="4:5", within=True)
    structures, table = tiny.sample_table(24, seed=1, constraints=constraints, sampling=FAST)
    for structure in structures:
        assert {el.symbol for el in structure.composition.elements} <= {"Ca", "Ti", "O", "N"}
        assert 4 <= len(structure) <= 5
    assert table["meets_elements"].all() and table["meets_atoms"].all()

    vocabulary = {Element.from_Z(int(z)).symbol for z in tiny.model.atomic_numbers}
    common = sorted(vocabulary)[:10]
    excluded = Constraints.parse(exclude=",".join(common))
    for structure in tiny.sample(24, seed=2, constraints=excluded, sampling=FAST):
        assert not {el.symbol for el in structure.composition.elements} & set(common)


def test_property_targets_are_reported_per_sample(tiny):
    constraints = Constraints.parse(targets=["heat_ref=:0.5"])
    _, table = tiny.sample_table(8, seed=0, constraints=constraints, sampling=FAST)
    assert "meets_heat_ref" in table and "heat_ref_latent" in table
    assert (table["meets_heat_ref"] == (table["heat_ref_latent"] <= 0.5)).all()


def test_steering_moves_the_property_head_into_the_range(tiny):
    from gendesign.model.common.steering import steer_latents

    model = tiny.model
    z = torch.randn(32, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    before = model.heads.property_values(z).detach() * model.property_std + model.property_mean
    high = float(before.quantile(0.1))
    steered = steer_latents(model, z, {"heat_ref": Range(max=high)}, steps=300)
    after = model.heads.property_values(steered).detach() * model.property_std + model.property_mean
    assert (before <= high).float().mean() < 0.2
    assert (after <= high + 1e-3).float().mean() > 0.9


def test_bad_constraints_are_one_sentence(tiny):
    with pytest.raises(ConfigError, match="'Xx' is not a chemical element"):
        Constraints.parse(elements="Li,Xx")
    with pytest.raises(ConfigError, match="range '3:1' is empty"):
        Constraints.parse(atoms="3:1")
    with pytest.raises(ConfigError, match="not of the form property=low:high"):
        Constraints.parse(targets=["band_gap"])
    with pytest.raises(ConfigError, match="cannot steer 'band_gap'"):
        tiny.sample(2, constraints=Constraints.parse(targets=["band_gap=1:2"]), sampling=FAST)
    with pytest.raises(ConfigError, match="Og never appear"):
        tiny.sample(2, constraints=Constraints.parse(elements="Og"), sampling=FAST)
    with pytest.raises(ConfigError, match="cannot promise every listed element; add --within"):
        tiny.sample(2, constraints=Constraints.parse(elements="Ca,Ti,O"), sampling=FAST)
    with pytest.raises(ConfigError, match="cells of 1 to 20 atoms"):
        tiny.sample(2, constraints=Constraints.parse(atoms="40:50"), sampling=FAST)


def test_incompatible_checkpoints_fail_clearly(tiny_run, tmp_path):
    path, _ = tiny_run
    with pytest.raises(InputError, match="generative model checkpoint not found"):
        load_generator_checkpoint(tmp_path / "absent.pt")
    predictor = "predictors/pretrained/perov5/member0.pt"
    with pytest.raises(InputError, match="not a gendesign generative model checkpoint"):
        load_generator_checkpoint(predictor)
    payload = torch.load(path, weights_only=True)
    future = tmp_path / "future.pt"
    torch.save({**payload, "format_version": 99}, future)
    with pytest.raises(InputError, match="format version 99 is not supported"):
        load_generator_checkpoint(future)
    payload["model"]["config"]["latent_dim"] = 7  # weights no longer fit the architecture
    reshaped = tmp_path / "reshaped.pt"
    torch.save(payload, reshaped)
    with pytest.raises(InputError, match="does not match this model code"):
        load_generator_checkpoint(reshaped)
    with pytest.raises(InputError, match="no bundled generative model named 'nope'"):
        Generator.from_pretrained("nope")


def test_reconstruction_reports_match_rate_and_rmsd(tiny, perov5):
    from gendesign.model.cdvae.reconstruction import reconstruct

    result = reconstruct(tiny.model, perov5.splits["test"].subset(range(8)), FAST)
    assert result.crystals == 8 and len(result.reconstructed) == 8
    assert 0.0 <= result.match_rate <= 1.0
    assert all(len(s) == 5 for s in result.reconstructed) or result.match_rate < 1.0


def test_train_and_sample_commands(gendesign_cli, tiny_run, tmp_path):
    path, _ = tiny_run
    out = tmp_path / "run"
    args = ["train", "--config", "configs/model/tiny.yaml", "--out", str(out)]
    first = gendesign_cli(*args, "--set", "max_epochs=1")
    assert first.returncode == 0, first.stderr
    resumed = gendesign_cli(*args, "--set", "max_epochs=2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert load_generator_checkpoint(out / "model.pt").metrics["epochs"] == 2

    samples = tmp_path / "samples"
    sampled = gendesign_cli(
        "sample", "--model", str(path), "--n", "5", "--out", str(samples),
        "--elements", "Ca,Ti,O", "--within", "--levels", "3", "--steps-per-level", "2",
    )  # fmt: skip
    assert sampled.returncode == 0, sampled.stderr
    table = pd.read_csv(samples / "samples.csv")
    assert len(table) == 5 and table["meets_elements"].all()
    assert "heat_ref_gnn" in table  # the bundled perov5 predictor's estimate
    assert len(list((samples / "cifs").glob("*.cif"))) == 5
    assert (samples / "structures.extxyz").is_file() and (samples / "sample_config.yaml").is_file()
    audited = gendesign_cli(
        "audit", str(samples), "--reference", "none", "--out", str(tmp_path / "a")
    )
    assert audited.returncode == 0, audited.stderr
    assert len(pd.read_csv(tmp_path / "a" / "structures.csv")) == 5  # the run folder as it is

    missing = gendesign_cli("sample", "--model", str(tmp_path / "none.pt"), "--n", "2")
    assert missing.returncode == 2 and "checkpoint not found" in missing.stderr
    wrong = gendesign_cli("train", "--config", "configs/model/tiny.yaml", "--set", "max_epoch=1")
    assert wrong.returncode == 2 and "max_epoch" in wrong.stderr


def test_a_run_bundles_with_its_config_and_training_curve(tiny_run, tmp_path):
    from gendesign.model.cdvae.bundle import bundle

    path, out = tiny_run
    folder = bundle("tiny", out, destination=tmp_path)
    assert {p.name for p in folder.iterdir()} == {
        "model.pt", "config.yaml", "log.csv.gz", "training_summary.md",
    }  # fmt: skip
    summary = (folder / "training_summary.md").read_text()
    assert "perov5" in summary and "4 epochs" in summary and "| epoch |" in summary
    assert len(Generator.from_checkpoint(folder / "model.pt").sample(2, sampling=FAST)) == 2


def test_a_killed_run_is_recovered_from_its_checkpoint(tiny_run, tmp_path):
    import shutil

    from gendesign.model.cdvae.training import recover_model

    _, out = tiny_run
    killed = tmp_path / "killed"
    shutil.copytree(out, killed)
    (killed / "model.pt").unlink()  # as if the process died before writing it
    recovered = load_generator_checkpoint(recover_model(killed))
    assert recovered.metrics["recovered_from"].startswith("epoch=")
    last = load_generator_checkpoint(recover_model(killed, use_last=True))
    assert last.metrics["recovered_from"] == "last.ckpt" and last.metrics["weights_epoch"] == 3
    with pytest.raises(InputError, match="not a training run with a saved checkpoint"):
        recover_model(tmp_path / "empty")


def test_steering_can_start_from_known_crystals(tiny, perov5):
    seeds = [perov5.splits["test"].structure(k) for k in range(3)]
    first = tiny.sample(4, seed=0, sampling=FAST, start_from=seeds)
    again = tiny.sample(4, seed=0, sampling=FAST, start_from=seeds)
    assert len(first) == 4 and [s.composition for s in first] == [s.composition for s in again]
    assert tiny.encode(seeds).shape == (3, tiny.model.config.latent_dim)


def test_sample_can_write_only_the_samples_that_meet_the_targets(gendesign_cli, tiny_run, tmp_path):
    path, _ = tiny_run
    common = ["sample", "--model", str(path), "--n", "8", "--seed", "1", "--levels", "3",
              "--steps-per-level", "2", "--target", "heat_ref=0.2:1.0"]  # fmt: skip
    every = gendesign_cli(*common, "--out", str(tmp_path / "every"))
    kept = gendesign_cli(*common, "--out", str(tmp_path / "kept"), "--drop-misses")
    assert every.returncode == 0 and kept.returncode == 0, every.stderr + kept.stderr
    full = pd.read_csv(tmp_path / "every" / "samples.csv")
    table = pd.read_csv(tmp_path / "kept" / "samples.csv")
    expected = full[full.filter(like="meets_").all(axis=1)]
    assert list(table["id"]) == list(expected["id"])
    assert table.filter(like="meets_").all(axis=None)
    assert len(list((tmp_path / "kept" / "cifs").glob("*.cif"))) == len(table)
    assert f"{len(table)} of 8 samples meet every constraint" in " ".join(kept.stdout.split())
