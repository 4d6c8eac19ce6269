"""An iteration's reward: each sample's energy above the hull after a short relaxation.

A full relaxation costs tens of FIRE steps per crystal; a few steps already remove
most of what the flow leaves unrelaxed (a compressed cell, an atom slightly off its
site), which is what separates a stable sample from an unstable one. The step count
is a setting, chosen by measuring the reward's agreement with a full relaxation
against its cost (``benchmarks/alignment.py``). A sample still moving after
``steps`` is scored by its last energy: an upper bound of what a full relaxation
would give, which never flatters it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure

from gendesign.alignment.config import RewardSection
from gendesign.data.crystal_set import CrystalSet
from relax.relaxation import RelaxSettings

REWARD_COLUMN = "reward_e_hull_eV_atom"


def reward_settings(reward: RewardSection) -> RelaxSettings:
    """The relaxation protocol of the reward: batched FIRE, ``reward.steps`` at most."""
    return RelaxSettings(max_steps=reward.steps, fmax=reward.fmax)


@lru_cache(maxsize=2)
def _judge(name: str, path: str | None, data_root: str | None, hull: str):
    from relax.potentials import load_potential
    from relax.runner import stability_references

    potential = load_potential(name, path)
    return (potential, *stability_references(potential, hull=hull, data_root=data_root))


def reward_judge(reward: RewardSection, data_root: str | None = None):
    """(potential, element references, hull) of the reward, loaded once per process."""
    return _judge(reward.potential, reward.potential_path, data_root, reward.hull)


def score(
    ids: list[str],
    structures: list[Structure],
    reward: RewardSection,
    folder: Path | None,
    data_root: str | None = None,
) -> pd.DataFrame:
    """One row per sample (in ``ids`` order): the relaxation's columns and
    ``reward_e_hull_eV_atom`` (NaN when the potential gave no energy). With ``folder``,
    each row is kept as it finishes and a rerun scores only the rest."""
    from relax.runner import relax_structures

    potential, references, hull = reward_judge(reward, data_root)
    table = relax_structures(
        CrystalSet(ids, structures),
        potential,
        reward_settings(reward),
        out_dir=folder,
        references=references,
        hull=hull,
    )
    table = table.drop_duplicates("id", keep="last").set_index("id").loc[ids].reset_index()
    table[REWARD_COLUMN] = [
        _reward(row.get("e_above_hull_eV_atom"), row.get("e_above_hull_unconverged_eV_atom"))
        for row in table.to_dict("records")
    ]
    return table


def _reward(converged: float | None, last_step: float | None) -> float:
    for value in (converged, last_step):
        if value is not None and math.isfinite(float(value)):
            return float(value)
    return math.nan
