"""What each candidate source paid off: its funnel to stable, novel, in-range crystals,
and the novelty classes of what it made.

Read from the store's table (one row per candidate). Each step counts the
candidates of the step before that also pass it:
generated → valid → pre-screened → screened (chosen for relaxation) → relaxed →
stable (E_hull ≤ ``rank.e_hull_max`` by the relaxation potential) → S.U.N. (also
unique in the campaign and, relaxed, not a known crystal) → in range (also every
target met by the screening predictor on the relaxed structure); where the judge
stage ran, two more: stable by both judges (the second potential agrees) → in range
by both (the independent property judge agrees too).
"""

from __future__ import annotations

import pandas as pd

from gendesign.audit.matching import KNOWN_CLASSES, NOVELTY_CLASSES
from gendesign.campaign.config import CampaignConfig

FUNNEL_STEPS = (
    "generated",
    "valid",
    "pre-screened",
    "screened",
    "relaxed",
    "stable",
    "S.U.N.",
    "in range",
)
# Steps that exist once the judge stage has run: the independent judges agree.
JUDGED_STEPS = ("stable by both", "in range by both")


def _column(table: pd.DataFrame, name: str, default=None) -> pd.Series:
    return table[name] if name in table else pd.Series(default, index=table.index, dtype=object)


def _is(table: pd.DataFrame, name: str, value) -> pd.Series:
    return (_column(table, name) == value).fillna(False).astype(bool)


def funnel_masks(table: pd.DataFrame, config: CampaignConfig) -> dict[str, pd.Series]:
    """Per funnel step, which candidates reached it (each step inside the one before)."""
    e_hull = pd.to_numeric(_column(table, "relax_e_above_hull_eV_atom"), errors="coerce")
    reached = {"generated": _is(table, "generate_status", "passed")}
    reached["valid"] = reached["generated"] & _is(table, "audit_valid", True)
    reached["pre-screened"] = reached["valid"] & _is(table, "prescreen_status", "passed")
    reached["screened"] = reached["pre-screened"] & _is(table, "screen_status", "passed")
    reached["relaxed"] = reached["screened"] & _is(table, "relax_status", "passed")
    reached["stable"] = reached["relaxed"] & (e_hull <= config.rank.e_hull_max).fillna(False)
    new = ~_column(table, "reaudit_novelty_class").isin(KNOWN_CLASSES)
    reached["S.U.N."] = reached["stable"] & _is(table, "audit_unique", True) & new
    reached["in range"] = reached["S.U.N."] & (
        _is(table, "rank_meets_targets", True) if config.targets else True
    )
    if judged(table):
        reached["stable by both"] = reached["in range"] & _is(
            table, "rank_stability_verdict", "stable by both"
        )
        independent = _column(table, "rank_meets_targets_independent")
        # a target the independent judge does not know cannot be confirmed: no verdict passes
        reached["in range by both"] = reached["stable by both"] & (
            (independent == True).fillna(False).astype(bool)  # noqa: E712
            if config.targets
            else True
        )
    return reached


def judged(table: pd.DataFrame) -> bool:
    """Whether the independent judges gave verdicts in this campaign."""
    return "judge_e_above_hull_eV_atom" in table or "rank_meets_targets_independent" in table


def sources_of(table: pd.DataFrame) -> pd.Series:
    """Each candidate's source ("model" for stores written before there were sources)."""
    return _column(table, "generate_source", "model").fillna("model")


def source_yield_table(table: pd.DataFrame, config: CampaignConfig) -> pd.DataFrame:
    """One row per source (and "all" when there are several): counts per funnel step."""
    masks = funnel_masks(table, config)
    sources = sources_of(table)
    names = [name for name in config.generate.source_counts() if (sources == name).any()]
    groups = [(name, sources == name) for name in names]
    if len(groups) != 1:
        groups.append(("all", pd.Series(True, index=table.index)))
    steps = [step for step in (*FUNNEL_STEPS, *JUDGED_STEPS) if step in masks]
    rows = [
        {"source": name, **{step: int((masks[step] & inside).sum()) for step in steps}}
        for name, inside in groups
    ]
    return pd.DataFrame(rows, columns=["source", *steps])


def novelty_class_table(table: pd.DataFrame, config: CampaignConfig) -> pd.DataFrame:
    """Per source: valid unique candidates and the share (%) of each novelty class."""
    judged = _is(table, "audit_valid", True) & _column(table, "audit_novelty_class").notna()
    judged &= _column(table, "audit_unique").ne(False)
    sources = sources_of(table)
    rows = []
    for name in config.generate.source_counts():
        inside = judged & (sources == name)
        if not inside.any():
            continue
        classes = table.loc[inside, "audit_novelty_class"].replace("duplicate", "known")
        row = {"source": name, "judged": int(inside.sum())}
        row.update({c: round(100 * float((classes == c).mean()), 1) for c in NOVELTY_CLASSES})
        rows.append(row)
    return pd.DataFrame(rows, columns=["source", "judged", *NOVELTY_CLASSES])


def rounds_of(table: pd.DataFrame) -> pd.Series:
    """Each candidate's round (0 for stores written before there were rounds)."""
    return pd.to_numeric(_column(table, "generate_round", 0), errors="coerce").fillna(0).astype(int)


def round_yield_table(table: pd.DataFrame, config: CampaignConfig) -> pd.DataFrame:
    """Per round and source: what was relaxed and what it yielded (stable, S.U.N., S.U.N.
    in a new framework, in range), the unique share of the valid candidates (a generator
    collapsing onto a few crystals shows here) and the worker seconds all its stages took."""
    masks = funnel_masks(table, config)
    sources, rounds = sources_of(table), rounds_of(table)
    novel_framework = masks["S.U.N."] & _is(table, "reaudit_novelty_class", "novel-framework")
    seconds = table[[c for c in table.columns if c.endswith("_seconds")]].apply(
        pd.to_numeric, errors="coerce"
    ).fillna(0.0).sum(axis=1)  # fmt: skip
    rows = []
    for round_ in sorted(rounds.unique()):
        for name in config.generate.source_counts():
            inside = (rounds == round_) & (sources == name)
            if not inside.any():
                continue
            valid = masks["valid"] & inside
            rows.append(
                {
                    "round": int(round_),
                    "source": name,
                    "generated": int((masks["generated"] & inside).sum()),
                    "relaxed": int((masks["relaxed"] & inside).sum()),
                    "stable": int((masks["stable"] & inside).sum()),
                    "S.U.N.": int((masks["S.U.N."] & inside).sum()),
                    "novel-framework S.U.N.": int((novel_framework & inside).sum()),
                    "in range": int((masks["in range"] & inside).sum()),
                    "unique % of valid": round(
                        100 * float(_is(table, "audit_unique", True)[valid].mean()), 1
                    )
                    if valid.any()
                    else float("nan"),
                    "worker s": round(float(seconds[inside].sum()), 1),
                }
            )
    return pd.DataFrame(rows)
