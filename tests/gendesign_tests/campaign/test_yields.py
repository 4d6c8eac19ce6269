"""The per-source yield table of the campaign report, on a hand-made store table."""

from __future__ import annotations

import pandas as pd

from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.yields import (
    FUNNEL_STEPS,
    JUDGED_STEPS,
    novelty_class_table,
    round_yield_table,
    source_yield_table,
)


def _table() -> pd.DataFrame:
    """Six candidates: three from the model, three from substitution, each stopping at a
    different step of the funnel."""
    rows = [
        # source, valid, prescreen, screen, relax, e_hull, unique, reaudit class, meets
        ("model", False, None, None, None, None, None, None, None),
        ("model", True, "dropped", None, None, None, True, None, None),
        ("model", True, "passed", "passed", "passed", 0.05, True, "novel-framework", True),
        ("substitution", True, "passed", "dropped", None, None, True, None, None),
        ("substitution", True, "passed", "passed", "passed", 0.30, True, "known", False),
        # stores written before the class was renamed say "duplicate" for a known crystal
        ("substitution", True, "passed", "passed", "passed", 0.02, True, "duplicate", True),
    ]
    table = pd.DataFrame(
        rows,
        columns=[
            "generate_source",
            "audit_valid",
            "prescreen_status",
            "screen_status",
            "relax_status",
            "relax_e_above_hull_eV_atom",
            "audit_unique",
            "reaudit_novelty_class",
            "rank_meets_targets",
        ],
    )
    table["generate_status"] = "passed"
    table["audit_novelty_class"] = (
        [None, "novel-framework", "substitution-derived"]
        + ["substitution-derived"] * 2
        + ["duplicate"]
    )
    return table


def test_each_step_counts_the_candidates_that_reached_it():
    config = CampaignConfig(
        name="t",
        targets={"band_gap": {"min": 1.0}},
        generate={"sources": {"model": 0.5, "substitution": 0.5}},
    )
    table = source_yield_table(_table(), config).set_index("source")
    assert list(table.columns) == list(FUNNEL_STEPS)
    assert list(table.loc["model"]) == [3, 2, 1, 1, 1, 1, 1, 1]
    # a relaxed duplicate of a known crystal is stable but not S.U.N.
    assert list(table.loc["substitution"]) == [3, 3, 3, 2, 2, 1, 0, 0]
    assert list(table.loc["all"]) == [6, 5, 4, 3, 3, 2, 1, 1]


def test_novelty_class_shares_are_of_the_valid_unique_candidates():
    config = CampaignConfig(name="t", generate={"sources": {"model": 1, "substitution": 1}})
    shares = novelty_class_table(_table(), config).set_index("source")
    assert shares.loc["model", "judged"] == 2
    assert shares.loc["model", "novel-framework"] == 50.0
    assert shares.loc["substitution", "substitution-derived"] == round(200 / 3, 1)
    assert shares.loc["substitution", "known"] == round(100 / 3, 1)


def test_funnel_reasons_keep_thresholds_show_measured_ranges_and_fold_ids():
    from gendesign.campaign.report import funnel_table

    reasons = ["pre-screen E_hull 0.499 eV/atom above 0.3 (chgnet-0.3.0, single point)",
               "pre-screen E_hull -1.2e-3 eV/atom above 0.3 (chgnet-0.3.0, single point)",
               "duplicate of c000077", "duplicate of c000012", None]  # fmt: skip
    table = pd.DataFrame(
        {"prescreen_status": ["dropped"] * 4 + ["passed"], "prescreen_reason": reasons}
    )
    row = funnel_table(table).set_index("stage").loc["prescreen"]
    assert row["dropped"] == 4 and row["passed"] == 1
    assert row["reasons"] == (
        "pre-screen E_hull -1.2e-3 to 0.499 eV/atom above 0.3 (chgnet-0.3.0, single point) (2); "
        "duplicate of c… (2)"
    )


def test_judged_steps_count_what_both_judges_confirm():
    config = CampaignConfig(
        name="t",
        targets={"band_gap": {"min": 1.0}},
        generate={"sources": {"model": 0.5, "substitution": 0.5}},
    )
    table = _table()
    table.loc[2, "relax_e_above_hull_eV_atom"] = 0.05  # the model's S.U.N. in-range candidate
    # the second potential disagrees about it; the property judges agree
    table["rank_stability_verdict"] = [None] * 2 + ["stable by one"] + [None] * 3
    table["rank_meets_targets_independent"] = [None] * 2 + [True] + [None] * 3
    table["judge_e_above_hull_eV_atom"] = [None] * 2 + [0.25] + [None] * 3
    counted = source_yield_table(table, config).set_index("source")
    assert list(counted.columns) == [*FUNNEL_STEPS, *JUDGED_STEPS]
    assert counted.loc["model", "in range"] == 1
    assert counted.loc["model", "stable by both"] == 0
    table.loc[2, "rank_stability_verdict"] = "stable by both"
    counted = source_yield_table(table, config).set_index("source")
    assert counted.loc["model", "stable by both"] == 1
    assert counted.loc["model", "in range by both"] == 1
    table.loc[2, "rank_meets_targets_independent"] = False  # the independent judge says no
    assert (
        source_yield_table(table, config).set_index("source").loc["model", "in range by both"] == 0
    )


def test_round_table_counts_each_rounds_sources_and_what_they_cost():
    table = _table()
    table["generate_round"] = [0, 0, 1, 0, 1, 1]
    table["generate_seconds"] = 0.5
    table["relax_seconds"] = [None, None, 4.0, None, 3.0, 2.0]
    config = CampaignConfig(name="unit", generate={"sources": {"model": 1, "substitution": 1}})
    rows = round_yield_table(table, config).set_index(["round", "source"])
    assert list(rows.index) == [
        (0, "model"),
        (0, "substitution"),
        (1, "model"),
        (1, "substitution"),
    ]
    assert rows.loc[(1, "model"), "S.U.N."] == 1
    assert rows.loc[(1, "model"), "novel-framework S.U.N."] == 1
    assert rows.loc[(1, "substitution"), "relaxed"] == 2
    assert rows.loc[(1, "substitution"), "stable"] == 1  # the known crystal is not S.U.N.
    assert rows.loc[(1, "substitution"), "S.U.N."] == 0
    assert rows.loc[(1, "substitution"), "worker s"] == 0.5 + 0.5 + 3.0 + 2.0
    assert rows.loc[(0, "model"), "unique % of valid"] == 100.0


def test_adaptive_rounds_give_more_to_the_source_that_yields_more_per_second():
    from gendesign.campaign.allocation import adaptive_counts, yield_rates

    table = _table()  # round 0: the model found 1 in range, substitution none
    table["generate_round"] = 0
    table["generate_seconds"] = [10.0, 10.0, 10.0, 1.0, 1.0, 1.0]
    config = CampaignConfig(
        name="unit",
        generate={"n": 100, "sources": {"model": 1, "substitution": 1}, "allocate": "adaptive"},
    )
    rates = yield_rates(table, config, before_round=1)
    assert rates["model"] == (1 + 0.5) / (30 + 1) and rates["substitution"] == 0.5 / (3 + 1)
    counts = adaptive_counts(table, config, 1)
    assert sum(counts.values()) == 100
    assert counts["substitution"] > counts["model"] >= 10  # cheaper wins here; the floor holds
    # nothing of round 1 counts toward round 1's own split
    later = table.assign(generate_round=1)
    assert adaptive_counts(later, config, 1) == {"model": 50, "substitution": 50}
