"""Ranking, selection for relaxation and the stage fingerprints, on hand-made records."""

from __future__ import annotations

import math

import pytest

from gendesign.campaign.candidates import Candidate
from gendesign.campaign.config import STAGES, CampaignConfig
from gendesign.campaign.ranking import rank_candidates
from gendesign.campaign.screen import select_for_relaxation


def config(**changes) -> CampaignConfig:
    return CampaignConfig.model_validate(
        {"name": "unit", "targets": {"band_gap": {"min": 1.0, "max": 2.0}}, **changes}
    )


def candidate(cid: str, **values) -> Candidate:
    return Candidate(cid, {}, values)


def test_stable_and_on_target_first_then_by_hull_distance():
    ranked = rank_candidates(
        config(),
        [
            candidate("off-target", relax_e_above_hull_eV_atom=0.0, reaudit_band_gap=4.0),
            candidate("unstable", relax_e_above_hull_eV_atom=0.5, reaudit_band_gap=1.5),
            candidate("best", relax_e_above_hull_eV_atom=-0.02, reaudit_band_gap=1.2),
            candidate("good", relax_e_above_hull_eV_atom=0.05, reaudit_band_gap=1.9),
            candidate("unconverged", reaudit_band_gap=1.5),  # no E_hull: last
        ],
    )
    order = [o.cid for o in sorted(ranked, key=lambda o: o.values["position"])]
    assert order == ["best", "good", "off-target", "unstable", "unconverged"]
    by_id = {o.cid: o.values for o in ranked}
    assert by_id["good"]["stable"] and by_id["good"]["meets_targets"]
    assert by_id["off-target"]["stable"] and not by_id["off-target"]["meets_targets"]
    assert not by_id["unconverged"]["stable"]


def test_ties_on_the_hull_go_to_the_higher_acquisition():
    ranked = rank_candidates(
        config(),
        [
            candidate(
                f"c{k}", relax_e_above_hull_eV_atom=0.0, reaudit_band_gap=1.5, screen_acquisition=p
            )  # fmt: skip
            for k, p in enumerate([0.2, 0.9, 0.5])
        ],
    )
    assert [o.cid for o in sorted(ranked, key=lambda o: o.values["position"])] == ["c1", "c2", "c0"]


def test_a_stage_record_reads_its_own_values():
    record = candidate(
        "c0", relax_status="passed", relax_reason="", relax_e_above_hull_eV_atom=0.02,
        screen_band_gap=1.1,
    ).stage("relax")  # fmt: skip
    assert record.passed and record.values == {"e_above_hull_eV_atom": 0.02}
    assert record.number("e_above_hull_eV_atom") == 0.02 and math.isnan(record.number("x"))
    assert candidate("c1").stage("rank").status is None


def test_the_top_k_by_acquisition_are_selected():
    chosen = select_for_relaxation(
        config(screen={"top_k": 2}),
        [candidate(f"c{k}", screen_acquisition=p) for k, p in enumerate([0.1, 0.7, 0.4, 0.7])],
    )
    passed = sorted(o.cid for o in chosen if o.status == "passed")
    assert passed == ["c1", "c3"]  # equal acquisition: both, by id
    dropped = [o for o in chosen if o.status == "dropped"]
    assert all("below the top 2" in o.reason for o in dropped)


def test_reserved_slots_go_to_the_best_of_their_kind_first():
    """Half of 4 slots kept for new frameworks: the two best of them are relaxed even
    though four substitution-derived candidates have a higher acquisition."""
    records = [
        candidate(f"c{k}", screen_acquisition=p, audit_novelty_class=kind, generate_source=source)
        for k, (p, kind, source) in enumerate(
            [(0.9, "substitution-derived", "substitution"), (0.8, "substitution-derived", "substitution"),
             (0.7, "substitution-derived", "prototypes"), (0.6, "substitution-derived", "substitution"),
             (0.3, "novel-framework", "model"), (0.2, "novel-framework", "model"),
             (0.1, "novel-framework", "model")]
        )
    ]  # fmt: skip
    chosen = select_for_relaxation(
        config(screen={"top_k": 4, "reserve": {"novel-framework": 0.5}}), records
    )
    passed = {o.cid: o.values["chosen_by"] for o in chosen if o.status == "passed"}
    assert passed == {"c0": "acquisition", "c1": "acquisition", "c4": "novel-framework",
                      "c5": "novel-framework"}  # fmt: skip
    # a source can be named too; without candidates of a kind its slots go to the rest
    by_source = select_for_relaxation(
        config(screen={"top_k": 3, "reserve": {"model": 0.34}}), records
    )
    assert {o.cid for o in by_source if o.status == "passed"} == {"c0", "c1", "c4"}
    nothing = select_for_relaxation(config(screen={"top_k": 2, "reserve": {"known": 0.5}}), records)
    assert {o.cid for o in nothing if o.status == "passed"} == {"c0", "c1"}


def test_a_reserve_names_a_known_kind_and_shares_that_fit():

    from gendesign.errors import ConfigError  # noqa: F401  (the validator's message is enough)

    for reserve, message in (
        ({"new": 0.2}, "unknown kind"),
        ({"model": 0.7, "known": 0.5}, "at most 1"),
    ):
        with pytest.raises(ValueError, match=message):
            config(screen={"reserve": reserve})


def test_a_change_invalidates_its_stage_and_every_later_one_only():
    base = config().stage_fingerprints()
    changed = config(screen={"top_k": 7}).stage_fingerprints()
    first = STAGES.index("screen")
    assert all(base[s] == changed[s] for s in STAGES[:first])
    assert all(base[s] != changed[s] for s in STAGES[first:])
    assert config(report={"top_n": 3}).stage_fingerprints() == base  # the report never counts
    assert math.isfinite(len(base)) and set(base) == set(STAGES)


def test_a_judge_disagreement_ranks_after_agreement():
    """Stable by both judges first; a candidate the second judge puts above the hull is
    "stable by one" and follows, even with a lower first-judge E_hull; the independent
    property judge's verdict is kept beside the screening predictor's."""
    ranked = rank_candidates(
        config(),
        [
            candidate(
                "disputed",
                relax_e_above_hull_eV_atom=0.0,
                judge_e_above_hull_eV_atom=0.3,
                reaudit_band_gap=1.5,
                judge_band_gap=1.4,
            ),
            candidate(
                "agreed",
                relax_e_above_hull_eV_atom=0.08,
                judge_e_above_hull_eV_atom=0.02,
                reaudit_band_gap=1.5,
                judge_band_gap=2.5,
            ),
            candidate(
                "rejected",
                relax_e_above_hull_eV_atom=0.3,
                judge_e_above_hull_eV_atom=0.4,
                reaudit_band_gap=1.5,
            ),
        ],
    )
    by_id = {o.cid: o.values for o in ranked}
    order = [o.cid for o in sorted(ranked, key=lambda o: o.values["position"])]
    assert order == ["agreed", "disputed", "rejected"]
    assert by_id["agreed"]["stability_verdict"] == "stable by both"
    assert by_id["disputed"]["stability_verdict"] == "stable by one"
    assert by_id["rejected"]["stability_verdict"] == "stable by neither"
    # the screening GNN says in range for "agreed"; the independent judge (2.5 eV) says no
    assert (
        by_id["agreed"]["meets_targets"] and by_id["agreed"]["meets_targets_independent"] is False
    )
    assert by_id["disputed"]["meets_targets_independent"] is True
    assert by_id["rejected"]["meets_targets_independent"] is None  # no independent prediction


def test_the_judge_stage_switched_off_records_nothing_and_ranks_as_before():
    from gendesign.campaign.judging import judge_batch

    off = config(judge={"enabled": False})
    outcomes = judge_batch(off, [candidate("a"), candidate("b")])
    assert [(o.status, o.values) for o in outcomes] == [("passed", {}), ("passed", {})]
    ranked = rank_candidates(
        off,
        [
            candidate("stable", relax_e_above_hull_eV_atom=0.0, reaudit_band_gap=1.5),
            candidate("unstable", relax_e_above_hull_eV_atom=0.4, reaudit_band_gap=1.5),
        ],
    )
    by_id = {o.cid: o.values for o in ranked}
    assert by_id["stable"]["position"] == 1 and by_id["stable"]["stability_verdict"] is None
    assert by_id["stable"]["meets_targets_independent"] is None


def test_verdicts_follow_the_least_favourable_judge_and_doubts_rank_last():
    """The Zn3IBrO2 case: far below the hull by the first judge, less so by the second,
    and a competing binary missing from the reference. Its judges disagree by more than
    0.1 eV/atom, so it ranks after a candidate on which they agree, even one that neither
    calls stable; its flags say why, name the competing phases and the missing compound."""
    coverage = "E_hull is a lower bound: the reference holds no I-Zn compound, though ..."
    ranked = rank_candidates(
        config(),
        [
            candidate(
                "artefact",
                relax_potential="chgnet-0.3.0",
                relax_e_above_hull_eV_atom=-0.192,
                relax_decomposition="0.5 ZnO + 0.5 ZnBr2",
                relax_hull_coverage=coverage,
                judge_potential="tensornet-matpes-pbe",
                judge_e_above_hull_eV_atom=-0.055,
                reaudit_band_gap=1.5,
            ),
            candidate(
                "agreed-unstable",
                relax_e_above_hull_eV_atom=0.25,
                judge_e_above_hull_eV_atom=0.22,
                reaudit_band_gap=1.5,
            ),
            candidate(
                "agreed-stable",
                relax_e_above_hull_eV_atom=0.01,
                judge_e_above_hull_eV_atom=0.06,
                reaudit_band_gap=1.5,
            ),
            candidate(
                "second-failed",
                relax_e_above_hull_eV_atom=0.0,
                judge_status="passed",
                judge_e_above_hull_eV_atom=float("nan"),
                reaudit_band_gap=1.5,
            ),
        ],
    )
    by_id = {o.cid: o.values for o in ranked}
    order = [o.cid for o in sorted(ranked, key=lambda o: o.values["position"])]
    assert order == ["agreed-stable", "agreed-unstable", "artefact", "second-failed"]
    # each judge's E_hull plus the offset the judge benchmark measured for it (calibration)
    from relax.precision import calibration_offset

    second = calibration_offset("tensornet-matpes-pbe")
    stable = by_id["agreed-stable"]
    assert stable["e_above_hull_eV_atom"] == pytest.approx(max(0.01, 0.06 + second))
    assert stable["stable"] and not stable["uncertain"]
    assert stable["flags"] == ""
    artefact = by_id["artefact"]
    first = calibration_offset("chgnet-0.3.0")
    assert artefact["e_above_hull_eV_atom"] == pytest.approx(max(-0.192 + first, -0.055 + second))
    assert artefact["judge_disagreement_eV_atom"] == pytest.approx(0.137)
    assert artefact["uncertain"]
    assert "judges disagree by 0.14 eV/atom" in artefact["flags"]
    assert "check: 0.19 eV/atom below the hull by chgnet-0.3.0" in artefact["flags"]
    assert "nearest competing phases: 0.5 ZnO + 0.5 ZnBr2" in artefact["flags"]
    assert "lower bound" in artefact["flags"]
    failed = by_id["second-failed"]
    assert not failed["stable"] and failed["uncertain"] and "no E_hull from" in failed["flags"]
