"""Fine-tuning the bundled mp20 crystalflow model on a few real crystals with positions."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch

from gendesign.data.inputs import dataset_split
from gendesign.model.crystalflow.finetune import fine_tune
from gendesign.model.generator import Generator

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def crystals(mp20):
    return dataset_split(mp20, "test").subset(range(12)).structures


@pytest.fixture(scope="module")
def model():
    return Generator.from_pretrained("mp20", device="cpu").model


def _tuned(model, crystals, seed: int, weights=None):
    tuned = copy.deepcopy(model)
    properties = torch.full((len(crystals), len(model.property_names)), float("nan"))
    result = fine_tune(
        tuned, crystals, weights or [1.0] * len(crystals), properties, steps=20, batch_size=8,
        learning_rate=1e-3, seed=seed,
    )  # fmt: skip
    return tuned, result


def _same(a, b) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


def test_the_same_seed_gives_the_same_model_and_another_seed_another(model, crystals):
    first, result = _tuned(model, crystals, seed=1)
    again, _ = _tuned(model, crystals, seed=1)
    other, _ = _tuned(model, crystals, seed=2)
    assert _same(first, again)
    assert not _same(first, other)
    assert not _same(first, model)  # both stages moved
    assert result.crystals == 12 and result.steps == 20
    assert torch.isfinite(torch.tensor([result.loss_start, result.loss_end])).all()
    assert not first.training  # handed back ready to sample


def test_learning_lowers_the_loss_on_the_finds_and_weights_choose_what_is_learnt(model, crystals):
    _, result = _tuned(model, crystals, seed=3)
    assert result.loss_end < result.loss_start
    # all weight on one crystal: the model moves toward its composition
    only_first = [1.0] + [0.0] * (len(crystals) - 1)
    tuned, _ = _tuned(model, crystals, seed=3, weights=only_first)
    target = crystals[0].composition.reduced_formula
    bundled = Generator.from_pretrained("mp20", device="cpu")
    counts = {}
    for name, network in (("before", model), ("after", tuned)):
        generator = Generator(
            replace(bundled.checkpoint, model=network), "cpu", bundled.sampling_file
        )
        proposals = generator.propose_compositions(200, seed=0)
        counts[name] = sum(c.reduced_formula == target for c, _ in proposals)
    assert counts["after"] > counts["before"]
