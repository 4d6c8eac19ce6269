"""Stage 1, generate: one batch of candidates from the generative model."""

from __future__ import annotations

from gendesign.campaign import resources
from gendesign.campaign.candidates import Outcome, batch_seed
from gendesign.campaign.config import CampaignConfig


def candidate_id(index: int) -> str:
    return f"c{index:06d}"


def batch_count(config: CampaignConfig) -> int:
    return -(-config.generate.n // config.batch_size)


def batch_ids(config: CampaignConfig, batch: int) -> list[str]:
    start = batch * config.batch_size
    stop = min(start + config.batch_size, config.generate.n)
    return [candidate_id(k) for k in range(start, stop)]


def generate_batch(config: CampaignConfig, batch: int) -> list[Outcome]:
    """Candidates of generation batch ``batch``, steered to the targets and decoded under
    the element and atom constraints; the same on any worker for a given seed."""
    generator = resources.generator(config.generate.model)
    settings = config.generate
    sampling = generator.sampling_with(settings.sampling)
    ids = batch_ids(config, batch)
    structures, table = generator.sample_table(
        len(ids),
        batch_seed(config.seed, batch),
        config.constraints(),
        sampling,
        steering_steps=settings.steering_steps,
    )
    # what the decoder reports per sample: latent-head estimates, constraint checks and,
    # for crystalflow models, charge balance and symmetrisation
    decoder_columns = {"charge_balanced", "composition_attempts", "symmetrised"}
    latent_columns = [
        c
        for c in table.columns
        if c.endswith("_latent") or c.startswith("meets_") or c in decoder_columns
    ]
    outcomes = []
    for cid, structure, (_, row) in zip(ids, structures, table.iterrows(), strict=True):
        values = {"batch": batch, "n_atoms": len(structure)}
        values["reduced_formula"] = structure.composition.reduced_formula
        values.update({column: row[column] for column in latent_columns})
        outcomes.append(Outcome(cid, "passed", values=values, structure=structure))
    return outcomes
