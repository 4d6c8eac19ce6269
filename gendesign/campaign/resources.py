"""Heavy objects a stage needs (models, potential, reference crystals), loaded once per
process: the coordinator, a local worker process or a Dask worker each keep their own."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pymatgen.core import Structure


@lru_cache(maxsize=2)
def generator(model: str):
    """A bundled generative model by name, or a model.pt path."""
    from gendesign.model.generator import Generator

    return Generator.load(model)


@lru_cache(maxsize=2)
def predictor(spec: str | tuple[str, ...]):
    """A bundled predictor ensemble by name, or checkpoint paths."""
    from predictors.inference import Predictor

    if isinstance(spec, tuple):
        return Predictor.from_checkpoint(list(spec))
    if spec.endswith(".pt") or Path(spec).is_file():
        return Predictor.from_checkpoint(spec)
    return Predictor.pretrained(spec)


@lru_cache(maxsize=2)
def potential(name: str, path: str | None):
    from relax.potentials import load_potential

    return load_potential(name, path)


@lru_cache(maxsize=2)
def stability_references(name: str, path: str | None, data_root: str | None):
    """Element reference energies and the MP-20 hull for the potential."""
    from relax.hull import mp20_hull_reference
    from relax.runner import stability_references as resolve

    references, _ = resolve(potential(name, path), hull=None)
    hull = mp20_hull_reference(data_root) if references is not None else None
    return references, hull


@lru_cache(maxsize=2)
def known_crystals(dataset: str, data_root: str | None) -> tuple[list[Structure], list[str]]:
    """The training crystals of ``dataset`` and their reduced formulas (novelty)."""
    from gendesign.audit.reference import load_dataset_split

    crystals = load_dataset_split(dataset, "train", data_root)
    return crystals.structures, [s.composition.reduced_formula for s in crystals.structures]
