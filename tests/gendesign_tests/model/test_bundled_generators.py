"""The bundled generative models load offline and make valid crystals."""

from __future__ import annotations

import shutil

import pytest

from gendesign.audit.composition import structure_balanced
from gendesign.audit.runner import audit
from gendesign.errors import ConfigError
from gendesign.model.cdvae.config import SamplingConfig
from gendesign.model.common.constraints import Constraints
from gendesign.model.generator import BUNDLED, SAMPLING_FILE, Generator

SHORT = SamplingConfig(levels=10, steps_per_level=20, batch_size=32)
FLOW = ("mp20", "perov5")  # the defaults: crystalflow
FIRST_GENERATION = ("mp20-cdvae", "perov5-cdvae")  # kept for side-by-side comparison


def test_every_bundle_is_there_with_its_records():
    assert set(FLOW + FIRST_GENERATION) <= set(BUNDLED.names())
    for name in FLOW + FIRST_GENERATION:
        generator = Generator.from_pretrained(name, device="cpu")
        assert generator.is_flow == (name in FLOW)
        assert generator.checkpoint.dataset == name.split("-")[0]
        assert generator.checkpoint.dataset_hash
        folder = BUNDLED.folder / name
        records = (
            {"chemistry_config.yaml", "coordinates_config.yaml", "training_summary.md"}
            if name in FLOW
            else {"config.yaml", "training_summary.md", "log.csv.gz"}
        )
        assert records <= {p.name for p in folder.iterdir()}
        assert (folder / "model.pt").stat().st_size < 20e6


def test_a_sampling_file_beside_the_checkpoint_overrides_its_stored_sampler_defaults(tmp_path):
    bundled = Generator.from_pretrained("mp20", device="cpu")
    stored = bundled.checkpoint.training_config["sampling"]
    assert stored["coordinate_tries"] == 3  # as bundled; its sampling.yaml raises it
    assert bundled.sampling_defaults.coordinate_tries == 8
    assert bundled.sampling_defaults.coordinate_steps == stored["coordinate_steps"]
    # perov5 decodes without templates and unsnapped, as its sampling.yaml measured best
    perov5 = Generator.from_pretrained("perov5", device="cpu").sampling_defaults
    assert not perov5.space_group_templates and not perov5.symmetrise

    copy = tmp_path / "model.pt"
    shutil.copy(BUNDLED.folder / "mp20-cdvae" / "model.pt", copy)
    plain = Generator.from_checkpoint(copy, device="cpu")
    assert plain.sampling_file is None
    assert plain.sampling_defaults.steps_per_level == 100
    (tmp_path / SAMPLING_FILE).write_text("steps_per_level: 7\n")
    assert Generator.from_checkpoint(copy, device="cpu").sampling_defaults.steps_per_level == 7
    (tmp_path / SAMPLING_FILE).write_text("steps_per_levle: 7\n")
    with pytest.raises(ConfigError, match=r"sampling\.yaml: unknown field 'steps_per_levle'"):
        _ = Generator.from_checkpoint(copy, device="cpu").sampling_defaults


@pytest.mark.parametrize(("name", "minimum_valid"), [("perov5", 0.85), ("mp20", 0.85)])
def test_bundled_flow_models_make_valid_crystals(name, minimum_valid):
    """A 64-sample smoke check at the default schedule; the measured figures on 10,000
    samples are in BENCHMARKS.md."""
    structures = Generator.from_pretrained(name, device="cpu").sample(64, seed=0)
    summary = audit(structures, reference=None, workers=1).summary
    assert summary.validity.structural >= minimum_valid
    assert summary.validity.compositional >= minimum_valid


@pytest.mark.parametrize(("name", "minimum_valid"), [("perov5-cdvae", 0.85), ("mp20-cdvae", 0.85)])
def test_first_generation_models_still_make_valid_crystals(name, minimum_valid):
    structures = Generator.from_pretrained(name, device="cpu").sample(32, seed=0, sampling=SHORT)
    summary = audit(structures, reference=None, workers=1).summary
    assert summary.validity.structural >= minimum_valid


def test_mp20_honours_a_chemical_system_and_flags_charge_balance_truly():
    """The chemistry network alone balances Li-Fe-P-O formulas under the common policy
    only part of the time (BENCHMARKS.md, "Chemistry under element constraints"); each
    sample's flag is that policy's verdict, and the hull-drawn compositions that campaigns
    and ``gendesign sample`` use under --elements balance every one."""
    generator = Generator.from_pretrained("mp20", device="cpu")
    constraints = Constraints.parse(elements="Li,Fe,P,O", atoms="4:12")
    structures, table = generator.sample_table(32, seed=0, constraints=constraints)
    assert table["meets_elements"].all() and table["meets_atoms"].all()
    assert all(
        {el.symbol for el in s.composition.elements} == {"Li", "Fe", "P", "O"} for s in structures
    )
    for structure, flag in zip(structures, table["charge_balanced"], strict=True):
        assert bool(flag) == structure_balanced(structure, "common")
    assert table["charge_balanced"].any()


def test_the_default_mp20_is_aligned_and_says_from_what():
    """The bundled default carries its alignment's provenance; the model before it stays
    loadable by name."""
    aligned = Generator.from_pretrained("mp20", device="cpu").checkpoint
    base = Generator.from_pretrained("mp20-base", device="cpu").checkpoint
    record = aligned.training_config["alignment"]
    assert [r["iteration"] for r in record] == [1, 2, 3]
    assert record[0]["parent"] == "mp20" and [r["seed"] for r in record] == [0, 1, 2]
    assert all(r["reward"]["potential"] == "chgnet-0.3.0" for r in record)
    assert all(r["summary"]["samples"] == 1000 for r in record)
    assert "alignment" not in base.training_config
    assert aligned.dataset == base.dataset and aligned.dataset_hash == base.dataset_hash
