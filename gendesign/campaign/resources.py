"""Heavy objects a stage needs (models, potential, reference crystals), loaded once per
process: the coordinator, a local worker process or a Dask worker each keep their own."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gendesign.audit.novelty_reference import NoveltyReference
    from gendesign.campaign.config import CampaignConfig
    from gendesign.data.known_crystals import KnownCrystals
    from gendesign.model.common.constraints import Constraints


@lru_cache(maxsize=2)
def generator(model: str):
    """A bundled generative model by name, or a model.pt path."""
    from gendesign.model.generator import Generator

    return Generator.load(model)


@lru_cache(maxsize=2)
def predictor(spec: str | tuple[str, ...]):
    """A bundled predictor ensemble by name, or checkpoint paths."""
    from predictors.inference import Predictor

    return Predictor.load(list(spec) if isinstance(spec, tuple) else spec)


@lru_cache(maxsize=2)
def potential(name: str, path: str | None):
    from relax.potentials import load_potential

    return load_potential(name, path)


@lru_cache(maxsize=4)
def stability_references(name: str, path: str | None, data_root: str | None, hull: str):
    """Element reference energies of the potential and the reference hull named ``hull``."""
    from relax.runner import stability_references as resolve

    return resolve(potential(name, path), hull=hull, data_root=data_root)


@lru_cache(maxsize=2)
def reference_hull(name: str, data_root: str | None):
    """The reference hull ``name`` (:mod:`relax.reference_hull`)."""
    from relax.reference_hull import reference_hull as build

    return build(name, data_root)


@lru_cache(maxsize=1)
def property_judge():
    """The bundled composition-only property judge (independent of the screening GNN)."""
    from predictors.composition import bundled_judge

    return bundled_judge("mp20")


@lru_cache(maxsize=2)
def composition_planner(data_root: str | None, temperature: float, hull: str):
    """Stability-aware compositions for the model source: the composition judge's formation
    energy against the reference hull (:mod:`gendesign.sources.hull_compositions`)."""
    from gendesign.sources.hull_compositions import HullCompositionPlanner

    return HullCompositionPlanner(
        property_judge(), reference_hull(hull, data_root), temperature=temperature
    )


@lru_cache(maxsize=2)
def known_crystals(dataset: str, data_root: str | None) -> KnownCrystals:
    """The training crystals of ``dataset`` with their descriptors (novelty, templates)."""
    from gendesign.data.inputs import load_dataset_split
    from gendesign.data.known_crystals import known_crystals as describe

    crystals = load_dataset_split(dataset, "train", data_root)
    return describe(crystals, f"{dataset}:train")


def novelty_reference(
    dataset: str | None, data_root: str | None, known: str | None
) -> NoveltyReference:
    """Every known crystal of ``dataset`` plus the user's ``known`` set (novelty)."""
    from gendesign.audit.novelty_reference import cached_novelty_reference

    return cached_novelty_reference(dataset, data_root, known)


_template_sources: dict[tuple, object] = {}


def template_source(name: str, dataset: str, data_root: str | None, constraints: Constraints):
    """The ``substitution`` or ``prototypes`` source over ``dataset``'s training crystals,
    prepared once per constraint set."""
    from gendesign.sources.prototypes import PrototypeDecoration
    from gendesign.sources.substitution import IonExchange

    key = (name, dataset, data_root, repr(constraints))
    if key not in _template_sources:
        kind = {"substitution": IonExchange, "prototypes": PrototypeDecoration}[name]
        _template_sources[key] = kind(known_crystals(dataset, data_root), constraints)
    return _template_sources[key]


def formula_decoder(
    dataset: str, data_root: str | None, constraints: Constraints, formulas: frozenset[str]
):
    """The frameworks that decode ``formulas`` (:mod:`gendesign.sources.formula_decodes`):
    ``dataset``'s training crystals and MPTS-52's crystals of their stoichiometries."""
    from gendesign.sources.formula_decodes import FormulaDecoder, framework_crystals
    from gendesign.sources.hull_compositions import stoichiometry_type

    kinds = {stoichiometry_type(formula) for formula in formulas}
    crystals = framework_crystals(kinds, known_crystals(dataset, data_root), data_root)
    return FormulaDecoder(crystals, constraints)


def preload(config: CampaignConfig) -> None:
    """Load the read-only data ``config``'s stages read (no models: nothing that runs torch)."""
    constraints = config.constraints()
    sources = config.generate.sources or {"model": 1.0}
    for name in ("substitution", "prototypes"):
        if name in sources:
            template_source(name, config.generate.templates, config.data_root, constraints)
    if config.audit.novelty_reference or config.audit.known:
        from gendesign.data.energy_tables import known_formula_note

        novelty_reference(config.audit.novelty_reference, config.data_root, config.audit.known)
        known_formula_note("", config.data_root)  # Materials Project's formulas, read once
    reference_hull(config.hull, config.data_root)  # the pre-screen's and the relaxation's judge
