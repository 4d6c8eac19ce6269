"""Stage 1, generate: one batch of candidates from one source.

Each source's candidates have consecutive ids, in SOURCE_NAMES order (model first),
split into batches of ``batch_size``; a batch's seed depends only on the campaign
seed, the round and the batch's index, so any worker makes the same candidates.
Round 0's ids are ``c000000``, ...; later rounds' ``r01c000000``, ... (a round's model
candidates come from the model fine-tuned after the round before,
:mod:`gendesign.campaign.learning`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gendesign.campaign import resources
from gendesign.campaign.candidates import Outcome, batch_seed
from gendesign.campaign.config import CampaignConfig

# what the model reports per sample: latent-head estimates, constraint checks and, for
# crystalflow models, charge balance, the imposed space group and symmetrisation
_DECODER_COLUMNS = {
    "charge_balanced", "composition_attempts", "symmetrised", "template_space_group",
    "placements", "e_hull_composition_estimate", "decoder", "made_by", "parent",
}  # fmt: skip


@dataclass(frozen=True)
class GenerationBatch:
    """Candidates ``first`` .. ``first + size - 1`` (campaign-wide numbers) from ``source``."""

    index: int
    source: str
    first: int
    size: int
    round: int = 0

    @property
    def ids(self) -> list[str]:
        return [candidate_id(k, self.round) for k in range(self.first, self.first + self.size)]


def candidate_id(index: int, round_: int = 0) -> str:
    return f"c{index:06d}" if round_ == 0 else f"r{round_:02d}c{index:06d}"


def generation_batches(
    config: CampaignConfig, round_: int = 0, counts: dict[str, int] | None = None
) -> list[GenerationBatch]:
    """Every generation batch of round ``round_``, in id order; ``counts``: candidates per
    source when not the configured shares (an adaptive round)."""
    batches, first = [], 0
    for source, count in (counts or config.generate.source_counts()).items():
        for start in range(0, count, config.batch_size):
            size = min(config.batch_size, count - start)
            batches.append(GenerationBatch(len(batches), source, first + start, size, round_))
        first += count
    return batches


def generate_batch(config: CampaignConfig, batch: GenerationBatch) -> list[Outcome]:
    """The candidates of ``batch`` under the element and atom constraints (the model's
    also steered to the targets); each records its source and round."""
    seed = batch_seed(config.seed, batch.index, batch.round)
    if batch.source == "model":
        outcomes = _from_model(config, batch.ids, seed, batch.round)
    else:
        outcomes = _from_templates(config, batch, seed)
    for outcome in outcomes:
        outcome.values.update(source=batch.source, batch=batch.index, round=batch.round)
    return outcomes


def _from_model(config: CampaignConfig, ids: list[str], seed: int, round_: int) -> list[Outcome]:
    from gendesign.campaign.learning import round_model

    generator = resources.generator(round_model(config, round_))
    settings = config.generate
    constraints = config.constraints()
    planned = None
    if settings.composition_mode(config.elements) == "hull":
        from gendesign.sources.hull_compositions import plan_compositions

        planned = plan_compositions(
            resources.composition_planner(config.data_root, settings.hull_temperature, config.hull),
            len(ids),
            seed,
            constraints,
            generator.model.max_atoms,
            lambda count, at: generator.propose_compositions(
                count, at, constraints, settings.steering_steps
            ),
            config.data_root,
        )
    sampling = generator.sampling_with(settings.sampling)
    if planned:
        from gendesign.sources.formula_decodes import sample_planned

        compositions = [p.composition for p in planned]
        decoder = None
        if settings.frameworks and config.elements:
            decoder = resources.formula_decoder(
                generator.checkpoint.dataset, config.data_root, constraints,
                frozenset(c.reduced_formula for c in compositions),
            )  # fmt: skip
        structures, table = sample_planned(
            generator, compositions, seed, constraints, sampling, decoder,
            settings.steering_steps,
        )  # fmt: skip
        table["e_hull_composition_estimate"] = [p.e_hull_estimate for p in planned]
    else:
        structures, table = generator.sample_table(
            len(ids), seed, constraints, sampling, steering_steps=settings.steering_steps
        )
    kept = [
        c
        for c in table.columns
        if c.endswith("_latent") or c.startswith("meets_") or c in _DECODER_COLUMNS
    ]
    outcomes = []
    for cid, structure, (_, row) in zip(ids, structures, table.iterrows(), strict=True):
        values = {
            "n_atoms": len(structure),
            "reduced_formula": structure.composition.reduced_formula,
        }
        # a framework decode has no flow columns, a flow decode no parent: leave them out
        values.update({column: row[column] for column in kept if not _missing(row[column])})
        outcomes.append(Outcome(cid, "passed", values=values, structure=structure))
    return outcomes


def _missing(value) -> bool:
    return isinstance(value, float) and value != value  # NaN


def _from_templates(config: CampaignConfig, batch: GenerationBatch, seed: int) -> list[Outcome]:
    source = resources.template_source(
        batch.source, config.generate.templates, config.data_root, config.constraints()
    )
    outcomes = []
    drawn = source.draw(batch.size, np.random.default_rng(seed))
    for cid, item in zip(batch.ids, drawn, strict=True):
        if item is None:
            reason = f"{batch.source}: no charge-balanced candidate found under the constraints"
            outcomes.append(Outcome(cid, "failed", reason))
            continue
        values = {
            "n_atoms": len(item.structure),
            "reduced_formula": item.structure.composition.reduced_formula,
            "charge_balanced": True,
            "parent": item.parent,
            "made_by": item.how,
            **item.values,
        }
        outcomes.append(Outcome(cid, "passed", values=values, structure=item.structure))
    return outcomes
