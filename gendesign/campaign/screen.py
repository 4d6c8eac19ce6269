"""Stage 3, screen: the GNN predictor ensemble judges each candidate against the targets;
then the best ``top_k`` by acquisition are chosen for relaxation.

A target passes when the predicted mean ± kappa·σ (σ: the ensemble spread,
calibrated on the holdout split, :mod:`predictors.calibration`) reaches its range, so kappa > 0 gives uncertain candidates the benefit of the doubt. The
acquisition is the probability that every target is met under a normal
distribution of mean and σ; ties (e.g. no targets) go to the lowest predicted
formation energy, optimistic by kappa·σ.
"""

from __future__ import annotations

import math

from pymatgen.core import Structure

from gendesign.campaign import resources
from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import CampaignConfig

FORMATION_ENERGY = "formation_energy_per_atom"


def _predictor(config: CampaignConfig):
    spec = config.screen.predictor
    return resources.predictor(tuple(spec) if isinstance(spec, list) else spec)


def predicted_values(config: CampaignConfig, structures: list[Structure]) -> list[dict]:
    """Per structure: ``<target>`` (mean), ``<target>_std`` (calibrated σ),
    ``<target>_spread`` (the ensemble's) and, when the predictor cannot judge it,
    ``predictor_error``."""
    predictor = _predictor(config)
    table = predictor.predict(structures)
    rows = []
    for _, row in table.iterrows():
        if row["error"]:
            rows.append({"predictor_error": row["error"]})
            continue
        values = {}
        for target in predictor.targets:
            values[target] = float(row[f"{target}_mean"])
            values[f"{target}_std"] = float(row[f"{target}_std"])  # calibrated σ
            values[f"{target}_spread"] = float(row[f"{target}_spread"])  # ensemble spread
        rows.append(values)
    return rows


def screen_batch(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """Predicted properties, target checks and the acquisition of each candidate."""
    estimates = predicted_values(config, [c.structure for c in candidates])
    predictor = _predictor(config)
    units = dict(zip(predictor.targets, predictor.units, strict=True))
    outcomes = []
    for candidate, values in zip(candidates, estimates, strict=True):
        if "predictor_error" in values:
            outcomes.append(Outcome(candidate.cid, "failed", values["predictor_error"]))
            continue
        probability, misses = 1.0, []
        for name, target in config.targets.items():
            mean, std = values[name], values[f"{name}_std"]
            probability *= target.probability(mean, std)
            values[f"meets_{name}"] = target.touches(mean, std, 0.0)
            if not target.touches(mean, std, config.screen.kappa):
                misses.append(
                    f"predicted {name} {mean:.3g} ± {std:.2g} {units.get(name, '')} "
                    f"misses {target.describe()}"
                )
        values["p_targets"] = probability
        values["acquisition"] = probability
        if FORMATION_ENERGY in values:
            values["e_form_optimistic"] = (
                values[FORMATION_ENERGY] - config.screen.kappa * values[f"{FORMATION_ENERGY}_std"]
            )
        status = "dropped" if misses else "passed"
        outcomes.append(Outcome(candidate.cid, status, "; ".join(misses), values))
    return outcomes


def select_for_relaxation(config: CampaignConfig, candidates: list[Candidate]) -> list[Outcome]:
    """The ``top_k`` screened candidates stay, the rest are dropped: first, for each kind
    in ``screen.reserve`` (a novelty class or a source), the best of that kind fill its
    share of the slots; then the best of the rest by acquisition fill what is left."""
    top_k = config.screen.top_k

    def order(candidate: Candidate) -> tuple:
        screen = candidate.stage("screen")
        e_form = screen.number("e_form_optimistic", math.inf)
        return (-screen.number("acquisition", 0.0), e_form, candidate.cid)

    ranked = sorted(candidates, key=order)
    chosen: dict[str, str] = {}  # cid → why it was chosen
    for kind, share in config.screen.reserve.items():
        slots = round(share * top_k)
        of_kind = [c for c in ranked if kind in _kinds(c) and c.cid not in chosen]
        for candidate in of_kind[:slots]:
            chosen[candidate.cid] = kind
    for candidate in ranked:
        if len(chosen) >= top_k:
            break
        chosen.setdefault(candidate.cid, "acquisition")
    outcomes = []
    for position, candidate in enumerate(ranked, start=1):
        values = {"rank": position}
        if candidate.cid in chosen:
            values["chosen_by"] = chosen[candidate.cid]
            outcomes.append(Outcome(candidate.cid, "passed", values=values))
        else:
            reason = f"ranked {position}, below the top {top_k} by acquisition"
            if config.screen.reserve:
                reason += " (reserved slots taken by " + ", ".join(config.screen.reserve) + ")"
            outcomes.append(Outcome(candidate.cid, "dropped", reason, values))
    return outcomes


def _kinds(candidate: Candidate) -> set[str]:
    """What a reserve can name a candidate by: its novelty class and its source."""
    return {
        str(candidate.values.get("audit_novelty_class")),
        str(candidate.values.get("generate_source", "model")),
    }
