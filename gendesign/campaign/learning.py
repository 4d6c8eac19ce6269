"""Between rounds: the generator learns from what the campaign found.

After round r, the relaxed candidates of every source whose E_hull (relaxation
potential) is at most ``learning.e_hull_max`` fine-tune the model that made round r,
each weighted by ``exp(-max(E_hull, 0) / e_hull_scale)``, times ``off_target_weight``
when the predictor says it misses a target and ``template_weight`` when ion exchange
or prototype decoration made it (the model learns its own frameworks first). As in
the stability alignment (:mod:`gendesign.alignment.tuning`), a replay of the model's
training crystals fills ``replay_fraction`` of every batch. Their relaxed positions
teach the coordinate flow, their compositions and cells the chemistry model. Round
r + 1 samples from the result.

Each round's model is kept in the campaign folder, ``rounds/round-<r>/model.pt`` with
``provenance.json`` beside it (the parent model, the finds with their weights, the
settings, the loss). The file is written whole or not at all, and fine-tuning is
deterministic per seed, so a campaign killed at any point resumes to the same models.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

from gendesign.alignment.tuning import stability_weight
from gendesign.campaign import resources
from gendesign.campaign.candidates import Candidate, round_of
from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.store import CampaignStore

log = logging.getLogger(__name__)

PROVENANCE_FILE = "provenance.json"


def round_model_path(folder: Path, round_: int) -> Path:
    return folder / "rounds" / f"round-{round_}" / "model.pt"


def round_model(config: CampaignConfig, round_: int) -> str:
    """The generative model round ``round_`` samples from: the configured one in round 0
    (and whenever learning is off), else the one fine-tuned after the round before."""
    if round_ == 0 or config.learning.steps == 0:
        return config.generate.model
    return str(round_model_path(config.folder, round_))


def learning_finds(
    config: CampaignConfig, candidates: list[Candidate]
) -> list[tuple[Candidate, float]]:
    """The relaxed candidates a model learns from, with their weights (see the module
    docstring), in id order."""
    settings = config.learning
    finds = []
    for candidate in candidates:
        e_hull = candidate.values.get("relax_e_above_hull_eV_atom")
        if "relax" not in candidate.structures or e_hull is None or not math.isfinite(e_hull):
            continue
        weight = stability_weight(e_hull, settings.e_hull_max, settings.e_hull_scale)
        if candidate.values.get("source", "model") != "model":
            weight *= settings.template_weight
        if config.targets and candidate.values.get("rank_meets_targets") is not True:
            weight *= settings.off_target_weight
        if weight > 0:
            finds.append((candidate, weight))
    return finds


def learn(config: CampaignConfig, store: CampaignStore, round_: int) -> Path:
    """Make (or find, when resuming) round ``round_``'s model from round ``round_ - 1``'s
    finds; returns its path."""
    from gendesign.alignment.config import TuningSection
    from gendesign.alignment.tuning import Find, replay_crystals, tune_on_finds

    path = round_model_path(config.folder, round_)
    if path.is_file():
        return path
    started = time.perf_counter()
    parent_name = round_model(config, round_ - 1)
    parent = resources.generator(parent_name)
    relaxed = [
        c for c in store.candidates({"relax_status": "passed"}) if round_of(c.cid) == round_ - 1
    ]
    finds = learning_finds(config, relaxed)
    model = copy.deepcopy(parent.model)
    provenance: dict = {
        "round": round_,
        "parent": parent_name,
        "finds": [
            {
                "cid": c.cid,
                "formula": c.structure.composition.reduced_formula,
                "weight": round(w, 4),
            }
            for c, w in finds
        ],  # fmt: skip
        "settings": config.learning.model_dump(mode="json"),
        "seed": config.seed + round_,
    }
    if finds:
        settings = config.learning
        tuning = TuningSection(
            steps=settings.steps, batch_size=settings.batch_size,
            learning_rate=settings.learning_rate, replay_fraction=settings.replay_fraction,
            replay_crystals=settings.replay_crystals,
        )  # fmt: skip
        labelled = [
            Find(
                c.structures["relax"],
                w,
                {name: float(c.values.get(f"reaudit_{name}", math.nan)) for name in model.property_names},
            )
            for c, w in finds
        ]  # fmt: skip
        replay = []
        if settings.replay_fraction > 0 and settings.replay_crystals > 0:
            replay = replay_crystals(
                config.generate.model, settings.replay_crystals, config.seed, config.data_root
            )
        result = tune_on_finds(model, labelled, tuning, replay, config.seed + round_)
        provenance["fine_tuning"] = asdict(result)
    else:
        provenance["fine_tuning"] = None  # nothing to learn from: the parent's weights
    provenance["seconds"] = round(time.perf_counter() - started, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    parent.save_tuned(model, path, {"campaign_round": provenance})  # whole or not at all
    log.info(
        "round %d: model fine-tuned on %d finds of round %d in %.1f s",
        round_, len(finds), round_ - 1, provenance["seconds"],
    )  # fmt: skip
    return path
