"""The stability pre-screen stage on real candidates with the offline potential (CHGNet)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gendesign.campaign.candidates import Candidate
from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.prescreen import prescreen_batch
from gendesign.data.inputs import dataset_split
from gendesign.data.known_crystals import known_crystals
from gendesign.model.common.constraints import Constraints
from gendesign.sources.substitution import IonExchange


@pytest.fixture(scope="module")
def candidates(mp20) -> list[Candidate]:
    known = known_crystals(dataset_split(mp20, "train").subset(range(600)), "mp20:train[:600]")
    drawn = IonExchange(known, Constraints(atoms=(2, 8))).draw(6, np.random.default_rng(3))
    return [Candidate(f"c{k}", {"generate": d.structure}) for k, d in enumerate(drawn)]


def _config(**prescreen) -> CampaignConfig:
    return CampaignConfig(name="p", prescreen=prescreen, relax={"potential": "chgnet-0.3.0"})


def test_single_points_give_e_hull_estimates_and_drop_above_the_threshold(candidates):
    loose = prescreen_batch(_config(e_hull_max=5.0, steps=0), candidates)
    estimates = [o.values["e_above_hull_eV_atom"] for o in loose]
    assert all(math.isfinite(e) for e in estimates)
    assert all(o.values["method"] == "chgnet-0.3.0, single point" for o in loose)
    assert all(o.structure is None for o in loose)  # nothing moved
    threshold = float(np.median(estimates))
    strict = prescreen_batch(_config(e_hull_max=threshold, steps=0), candidates)
    for outcome, estimate in zip(strict, estimates, strict=True):
        assert outcome.status == ("dropped" if estimate > threshold else "passed")
        if outcome.status == "dropped":
            assert "pre-screen E_hull" in outcome.reason and "single point" in outcome.reason


def test_a_few_fire_steps_lower_the_estimate_and_hand_on_the_moved_structure(candidates):
    single = prescreen_batch(_config(e_hull_max=5.0), candidates)
    moved = prescreen_batch(_config(e_hull_max=5.0, steps=10), candidates)
    for before, after, candidate in zip(single, moved, candidates, strict=True):
        assert after.structure is not None and len(after.structure) == len(candidate.structure)
        assert after.values["e_above_hull_eV_atom"] <= before.values["e_above_hull_eV_atom"] + 1e-3
        # screening and relaxation then start from the moved structure
        later = Candidate(candidate.cid, {**candidate.structures, "prescreen": after.structure})
        assert later.unrelaxed is after.structure and later.structure is after.structure


def test_turned_off_it_passes_everything_without_energies(candidates):
    outcomes = prescreen_batch(_config(enabled=False), candidates)
    assert [o.status for o in outcomes] == ["passed"] * len(candidates)
    assert all(not o.values for o in outcomes)
