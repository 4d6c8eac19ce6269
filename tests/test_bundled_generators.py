"""The bundled generative models load offline and make valid crystals."""

from __future__ import annotations

import pytest

from gendesign.audit.runner import audit
from gendesign.model.config import SamplingConfig
from gendesign.model.constraints import Constraints
from gendesign.model.generator import PRETRAINED_DIR, Generator, pretrained_names

SHORT = SamplingConfig(levels=10, steps_per_level=20, batch_size=32)


def test_both_defaults_are_bundled_with_their_records():
    assert {"perov5", "mp20"} <= set(pretrained_names())
    for name in ("perov5", "mp20"):
        generator = Generator.from_pretrained(name, device="cpu")
        assert generator.checkpoint.dataset == name and generator.checkpoint.dataset_hash
        folder = PRETRAINED_DIR / name
        assert {"config.yaml", "training_summary.md", "log.csv.gz"} <= {
            p.name for p in folder.iterdir()
        }
        assert (folder / "model.pt").stat().st_size < 20e6


@pytest.mark.parametrize(("name", "minimum_valid"), [("perov5", 0.85), ("mp20", 0.85)])
def test_bundled_models_make_valid_crystals(name, minimum_valid):
    """A 32-sample smoke check on the short schedule; the measured figures on 1,000
    samples are in BENCHMARKS.md."""
    structures = Generator.from_pretrained(name, device="cpu").sample(32, seed=0, sampling=SHORT)
    summary = audit(structures, reference=None, workers=1).summary
    assert summary["validity"]["structural"] >= minimum_valid


def test_mp20_steering_honours_a_chemical_system():
    generator = Generator.from_pretrained("mp20", device="cpu")
    constraints = Constraints.parse(elements="Li,Fe,P,O", atoms="4:12")
    structures, table = generator.sample_table(16, seed=0, constraints=constraints, sampling=SHORT)
    assert table["meets_elements"].all() and table["meets_atoms"].all()
    assert all(
        {el.symbol for el in s.composition.elements} <= {"Li", "Fe", "P", "O"} for s in structures
    )
