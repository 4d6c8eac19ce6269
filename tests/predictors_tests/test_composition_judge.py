"""The independent property judge: composition only, trained on MP-20 train, bundled."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Composition

from gendesign.errors import InputError
from predictors.composition import BUNDLED_DIR, CompositionJudge, bundled_judge, train_judge


def test_bundled_judge_tells_insulators_from_metals():
    judge = bundled_judge("mp20")
    table = judge.predict([Composition("NaCl"), Composition("MgO"), Composition("Cu3Au")])
    assert table["band_gap"].iloc[0] > 3.0 and table["band_gap"].iloc[1] > 3.0
    assert table["band_gap"].iloc[2] < 0.3
    assert (table["band_gap_std"] >= 0).all()
    assert table["formation_energy_per_atom"].iloc[1] < -2.0  # MgO, DFT about -3.0 eV/atom


@pytest.mark.needs_data
def test_bundled_judge_on_held_out_mp20_test_crystals(mp20):
    """MP-20 test took no part in its training (it trained on MP-20 train)."""
    test = mp20.crystal_set("test").subset(range(300))
    predicted = bundled_judge("mp20").predict([s.composition for s in test.structures])
    dft = test.properties["band_gap"].to_numpy(float)
    assert np.mean(np.abs(predicted["band_gap"].to_numpy() - dft)) < 0.6


def test_training_is_deterministic_and_the_file_runs_no_code(tmp_path):
    compositions = [Composition(f) for f in ("NaCl", "KBr", "Cu", "Fe2O3", "ZnS", "Al")] * 8
    values = np.array(
        [[5.0, -2.0], [4.0, -2.0], [0.0, 0.0], [2.0, -1.7], [2.0, -1.0], [0.0, 0.0]] * 8
    )
    first, _ = train_judge(compositions, values, members=2, hidden=16, epochs=5, holdout=0.25)
    again, _ = train_judge(compositions, values, members=2, hidden=16, epochs=5, holdout=0.25)
    assert first.predict(compositions[:6]).equals(again.predict(compositions[:6]))
    path = first.save(tmp_path / "judge.pt", {"note": "test"})
    loaded = CompositionJudge.load(path)
    assert np.allclose(loaded.predict(compositions[:6]), first.predict(compositions[:6]))

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    torch.save({"kind": "gendesign composition judge", "x": Payload()}, tmp_path / "crafted.pt")
    with pytest.raises(
        InputError, match=r"not a gendesign composition judge: .* \(no code in it ran\)"
    ):
        CompositionJudge.load(tmp_path / "crafted.pt")
    assert not (tmp_path / "ran").exists()
    with pytest.raises(InputError, match="composition judge not found"):
        CompositionJudge.load(tmp_path / "missing.pt")
    assert (BUNDLED_DIR / "mp20" / "model.pt").is_file()
