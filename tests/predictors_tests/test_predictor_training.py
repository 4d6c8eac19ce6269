"""Training a tiny predictor with Lightning and reading its checkpoint back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from gendesign.audit import audit
from gendesign.errors import ConfigError, GendesignError, InputError
from predictors.inference import Predictor
from predictors.model import load_predictor_checkpoint
from predictors.training import PredictorTrainingConfig, train_predictor


def tiny_config(tmp_path, **overrides) -> PredictorTrainingConfig:
    return PredictorTrainingConfig.model_validate(
        {
            "data": {"dataset": "perov5"},
            "model": {"hidden_channels": 16, "num_layers": 2, "head_hidden": 16},
            "batch_size": 32,
            "max_steps": 24,
            "max_train_crystals": 256,
            "out_dir": str(tmp_path / "run"),
            **overrides,
        }
    )


@pytest.fixture(scope="module")
def ensemble_paths(perov5, tmp_path_factory):
    """Two tiny perov5 predictors that differ only in their seed."""
    return [
        train_predictor(tiny_config(tmp_path_factory.mktemp(f"seed{seed}"), seed=seed))
        for seed in (0, 1)
    ]


def test_training_writes_a_complete_checkpoint(perov5, ensemble_paths):
    path = ensemble_paths[0]
    checkpoint = load_predictor_checkpoint(path)
    assert checkpoint.model.targets == ["heat_ref"] and checkpoint.model.units == ["eV"]
    assert checkpoint.dataset == "perov5" and checkpoint.model.vocabulary == perov5.vocabulary
    assert checkpoint.metrics["steps"] == 24
    assert checkpoint.metrics["holdout"]["val_mae_heat_ref"] > 0
    batch = next(iter(perov5.loader("test", batch_size=16)))
    with torch.no_grad():
        predicted = checkpoint.model(batch)
    assert predicted.shape == (16, 1) and torch.isfinite(predicted).all()
    assert (path.parent / "config.yaml").exists()
    assert list((path.parent / "log").rglob("metrics.csv"))
    # A checkpoint is tied to its elements: another dataset's vocabulary is refused.
    with pytest.raises(GendesignError, match="different element vocabulary"):
        checkpoint.model.vocabulary.check_compatible(
            type(checkpoint.model.vocabulary).from_symbols(["Na", "Cl"]), "the perov5 predictor"
        )


def test_bad_targets_and_files_are_one_sentence(perov5, tmp_path):
    with pytest.raises(ConfigError, match="targets: band_gap not in dataset 'perov5'"):
        train_predictor(tiny_config(tmp_path, targets=["band_gap"]))
    with pytest.raises(InputError, match="predictor checkpoint not found"):
        load_predictor_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable predictor checkpoint"):
        load_predictor_checkpoint(tmp_path / "junk.pt")


def test_ensemble_predicts_mean_and_spread_and_names_unsupported_structures(perov5, ensemble_paths):
    crystals = perov5.crystal_set("test").subset(range(20))
    helium = Structure(Lattice.cubic(4.0), ["He"], [[0, 0, 0]])
    disordered = Structure(Lattice.cubic(4.0), [{"Ca": 0.5, "Sr": 0.5}], [[0, 0, 0]])
    not_a_number = Structure(Lattice.cubic(4.0), ["Ca"], [[float("nan"), 0, 0]])
    structures = [*crystals.structures, helium, disordered, not_a_number]
    ensemble = Predictor.from_checkpoint(ensemble_paths)
    table = ensemble.predict(structures, batch_size=8)
    assert list(table.columns) == [
        "id",
        "heat_ref_mean",
        "heat_ref_std",
        "heat_ref_spread",
        "error",
    ]
    assert table["heat_ref_mean"][:20].notna().all() and (table["heat_ref_std"][:20] > 0).all()
    # checkpoints without a calibration: σ is the ensemble spread itself
    np.testing.assert_array_equal(table["heat_ref_std"], table["heat_ref_spread"])
    assert np.isnan(table.loc[20, "heat_ref_mean"])
    assert table.loc[20, "error"] == "element(s) He not in the predictor's training data"
    assert "disordered" in table.loc[21, "error"] and "NaN" in table.loc[22, "error"]
    assert table.loc[21:, "heat_ref_mean"].isna().all()
    single = Predictor.from_checkpoint(ensemble_paths[0]).predict(crystals.structures)
    assert (single["heat_ref_std"] == 0).all()
    # Batching does not change the answer.
    again = Predictor.from_checkpoint(ensemble_paths[0]).predict(crystals.structures, batch_size=3)
    np.testing.assert_allclose(single["heat_ref_mean"], again["heat_ref_mean"], rtol=1e-5)


def test_the_audit_uses_a_predictor_for_property_distances(perov5, ensemble_paths, tmp_path):
    crystals = perov5.crystal_set("test").subset(range(12))
    folder = tmp_path / "cifs"
    folder.mkdir()
    for structure, item_id in zip(crystals.structures, crystals.ids, strict=True):
        structure.to(filename=str(folder / f"{item_id}.cif"))
    predictor = Predictor.from_checkpoint(ensemble_paths)
    summary = audit(
        folder,
        reference=str(folder),
        coverage="on",
        property_predictor=predictor.property_function(),
    ).summary
    valid = summary.counts.valid
    assert valid > 0
    wdist = summary.distribution.property_wdist["heat_ref"]
    assert wdist >= 0 and (valid < 12 or wdist == pytest.approx(0, abs=1e-5))


def test_an_ensemble_refuses_a_member_with_another_element_vocabulary(ensemble_paths, tmp_path):
    foreign = load_predictor_checkpoint(ensemble_paths[1])
    foreign.model.vocabulary = type(foreign.model.vocabulary).from_symbols(["Na", "Cl"])
    foreign_path = foreign.save(tmp_path / "foreign.pt")
    with pytest.raises(GendesignError, match="different element vocabulary"):
        Predictor.from_checkpoint([ensemble_paths[0], foreign_path])


def test_finetuning_copies_the_message_passing_and_trains_a_new_head(
    perov5, ensemble_paths, tmp_path
):
    source = load_predictor_checkpoint(ensemble_paths[0])
    tuned_path = train_predictor(
        tiny_config(
            tmp_path,
            targets=["dir_gap"],
            finetune_from=str(ensemble_paths[0]),
            freeze_message_passing=True,
            model={"hidden_channels": 8},  # ignored: the source's architecture wins
        )
    )
    tuned = load_predictor_checkpoint(tuned_path)
    assert tuned.model.targets == ["dir_gap"] and tuned.model.units == ["eV"]
    assert tuned.model.network.config == source.model.network.config
    assert tuned.training_config["finetune_from"] == str(ensemble_paths[0])
    before, after = source.model.network.state_dict(), tuned.model.network.state_dict()
    frozen = [k for k in after if k.startswith("convolutions.")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # incl. BatchNorm stats
    assert not torch.equal(before["embedding.weight"], after["embedding.weight"])
    assert tuned.metrics["holdout"]["val_mae_dir_gap"] > 0


def test_an_interrupted_run_keeps_its_best_weights(perov5, tmp_path, monkeypatch):
    from predictors.lightning_module import PropertyRegressor
    from predictors.training import recover_predictor

    real_step, calls = PropertyRegressor.training_step, []

    def step_then_ctrl_c(self, batch, batch_index):
        calls.append(batch_index)
        if len(calls) == 20:  # in the third epoch (8 batches each)
            raise KeyboardInterrupt
        return real_step(self, batch, batch_index)

    monkeypatch.setattr(PropertyRegressor, "training_step", step_then_ctrl_c)
    path = train_predictor(tiny_config(tmp_path, max_steps=-1, max_epochs=50))
    checkpoint = load_predictor_checkpoint(path)
    assert checkpoint.metrics["interrupted"] and checkpoint.metrics["epochs"] == 2
    assert checkpoint.metrics["holdout"]["val_mae_heat_ref"] > 0

    # A run killed outright (no chance to write predictor.pt) is recovered from its folder.
    path.unlink()
    recovered = load_predictor_checkpoint(recover_predictor(path.parent))
    assert recovered.metrics["interrupted"] and recovered.metrics["weights_epoch"] in (0, 1)
    for key, value in checkpoint.model.network.state_dict().items():
        assert torch.equal(value, recovered.model.network.state_dict()[key])
    with pytest.raises(InputError, match="not a training run with a saved checkpoint"):
        recover_predictor(tmp_path / "elsewhere")


def test_trained_runs_bundle_into_an_ensemble_that_loads(ensemble_paths, tmp_path):
    import gzip

    from predictors.bundle import bundle

    folder = bundle("tiny", [path.parent for path in ensemble_paths], destination=tmp_path)
    members = sorted(folder.glob("member*.pt"))
    assert [m.name for m in members] == ["member0.pt", "member1.pt"]
    assert (folder / "config.yaml").is_file()
    with gzip.open(folder / "member0_log.csv.gz", "rt") as log:
        assert "epoch" in log.readline()  # the per-epoch history travels with the member
    summary = (folder / "training_summary.md").read_text()
    assert "Bundled predictor `tiny`" in summary and "| 1 | 1 |" in summary  # member 1, seed 1
    ensemble = Predictor.from_checkpoint(members)
    assert ensemble.targets == ["heat_ref"] and len(ensemble.members) == 2
