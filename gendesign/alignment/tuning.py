"""Fine-tuning on rewarded finds with a replay of the training crystals.

The alignment loop and the campaign's closed loop both move a model toward crystals
it made that turned out stable; both mix the model's own training crystals into every
batch (``replay_fraction`` of the weight), so the model keeps the chemistry it knew
while it moves. The finds share the rest in proportion to their weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from pymatgen.core import Structure

from gendesign.alignment.config import TuningSection
from gendesign.model.crystalflow.finetune import FineTuneResult, fine_tune


@dataclass(frozen=True)
class Find:
    """A crystal to learn from: relaxed, with its weight and known property labels
    (physical units; missing ones are simply not taught)."""

    structure: Structure
    weight: float
    labels: dict[str, float] = field(default_factory=dict)


def stability_weight(e_hull: float, e_hull_max: float, e_hull_scale: float) -> float:
    """How much a crystal of energy above hull ``e_hull`` (eV/atom) counts:
    ``exp(-max(E_hull, 0) / scale)`` up to ``e_hull_max``, else 0 (also when unknown)."""
    if not math.isfinite(e_hull) or e_hull > e_hull_max:
        return 0.0
    return math.exp(-max(e_hull, 0.0) / e_hull_scale)


_REPLAY_CACHE: dict[tuple, list[Find]] = {}


def replay_crystals(model: str, count: int, seed: int, data_root: str | None = None) -> list[Find]:
    """``count`` of the training crystals (with positions) of generative model ``model``,
    a seeded draw, each with its property labels."""
    from gendesign.data.datasets import load_dataset
    from gendesign.model.common.bundled import BUNDLED
    from gendesign.model.generator import load_generator_checkpoint

    key = (model, count, seed, data_root)
    if key not in _REPLAY_CACHE:
        name = BUNDLED.name_of(model)
        path = BUNDLED.files(name)[0] if name else model
        dataset = load_generator_checkpoint(path).dataset
        options = {"data_root": data_root} if data_root else {}
        train = load_dataset(dataset, **options).splits["train"]
        chosen = np.sort(
            np.random.default_rng(seed).permutation(len(train))[: min(count, len(train))]
        )
        _REPLAY_CACHE[key] = [
            Find(
                train.structure(index),
                1.0,
                dict(zip(train.property_names, train.properties[index].tolist(), strict=True)),
            )
            for index in chosen.tolist()
        ]
    return _REPLAY_CACHE[key]


def tune_on_finds(
    model, finds: list[Find], tuning: TuningSection, replay: list[Find], seed: int
) -> FineTuneResult:
    """Fine-tune ``model`` in place (both stages) on ``finds`` and ``replay``."""
    total = sum(f.weight for f in finds)
    share = tuning.replay_fraction if replay else 0.0
    crystals = list(finds) + list(replay if share > 0 else [])
    weights = [(1 - share) * f.weight / total for f in finds]
    weights += [share / len(replay)] * (len(crystals) - len(finds))
    names = model.property_names
    properties = torch.tensor(
        [[float(c.labels.get(name, math.nan)) for name in names] for c in crystals],
        dtype=torch.float32,
    ).reshape(len(crystals), len(names))
    return fine_tune(
        model,
        [c.structure for c in crystals],
        weights,
        properties,
        steps=tuning.steps,
        batch_size=tuning.batch_size,
        learning_rate=tuning.learning_rate,
        seed=seed,
    )
