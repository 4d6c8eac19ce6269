"""The user-facing sampler: ``Generator.from_pretrained("mp20").sample(n=100, seed=0)``.

One call draws latents (from the prior, optionally steered toward property
targets), decodes them in batches under the element and atom-count constraints,
and returns pymatgen Structures. The ``sample_table`` variant also returns one
row per sample: formula, atoms, lattice, the property head's predictions and
whether each constraint is met.

Two model families load here, told apart by their checkpoint's format:
``crystalflow`` (the bundled ``mp20`` and ``perov5``: integer stoichiometries,
lattice and torus coordinate flows, property-conditioned) and the first
generation ``cdvae`` (``mp20-cdvae``, ``perov5-cdvae``: annealed Langevin
dynamics, per-atom elements).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from pymatgen.core import Composition, Element, Structure

from gendesign.config import read_yaml_mapping, validate_config
from gendesign.errors import ConfigError
from gendesign.model.cdvae.config import SamplingConfig
from gendesign.model.cdvae.model import CDVAE
from gendesign.model.common.bundled import BUNDLED
from gendesign.model.common.constraints import Constraints
from gendesign.model.common.steering import steer_latents
from gendesign.model.crystalflow.config import FlowSamplingConfig
from gendesign.model.crystalflow.model import CrystalFlow
from gendesign.nn.checkpoint import Checkpoint

FAMILIES = (CrystalFlow, CDVAE)
GeneratorCheckpoint = Checkpoint[CrystalFlow | CDVAE]
# Beside a model.pt: sampler settings tuned after training, over those stored in the
# checkpoint (so a bundle's defaults can change without rewriting its weights).
SAMPLING_FILE = "sampling.yaml"


def load_generator_checkpoint(path: str | Path, device: str = "cpu") -> GeneratorCheckpoint:
    """A generative checkpoint of either family; a missing or foreign file gets one sentence."""
    return Checkpoint.load(path, FAMILIES, "generative model checkpoint", device)


class Generator:
    def __init__(
        self,
        checkpoint: GeneratorCheckpoint,
        device: str | None = None,
        sampling_file: Path | None = None,
    ):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.checkpoint = checkpoint
        self.model = checkpoint.model.to(self.device).eval()
        self.is_flow = isinstance(self.model, CrystalFlow)
        self.sampling_file = sampling_file
        # read once: sampling_defaults is asked for on every sample call
        self._tuned_sampling = read_yaml_mapping(sampling_file) if sampling_file else {}

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None) -> Generator:
        """A ``model.pt``, with the :data:`SAMPLING_FILE` beside it if there is one."""
        sampling_file = Path(path).with_name(SAMPLING_FILE)
        return cls(
            load_generator_checkpoint(path),
            device,
            sampling_file if sampling_file.is_file() else None,
        )

    @classmethod
    def load(cls, model: str | Path, device: str | None = None) -> Generator:
        """A bundled model by name (see ``BUNDLED.names()``) or a ``model.pt`` path."""
        name = BUNDLED.name_of(model)
        return cls.from_pretrained(name, device) if name else cls.from_checkpoint(model, device)

    @classmethod
    def from_pretrained(cls, name: str = "mp20", device: str | None = None) -> Generator:
        """A bundled model by name (see ``BUNDLED.names()``)."""
        (path,) = BUNDLED.files(name)
        return cls.from_checkpoint(path, device)

    def save_tuned(self, model: CrystalFlow | CDVAE, path: Path, provenance: dict) -> Path:
        """Save ``model``, fine-tuned from this generator, at ``path``: this generator's
        record with ``provenance`` merged into its training config, and its tuned sampler
        settings copied beside it, so the derived model loads and samples like its parent."""
        record = self.checkpoint
        tuned = dataclasses.replace(
            record, model=model, training_config={**record.training_config, **provenance}
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.sampling_file is not None:
            shutil.copyfile(self.sampling_file, path.parent / self.sampling_file.name)
        return tuned.save(path)

    @property
    def sampling_defaults(self) -> SamplingConfig | FlowSamplingConfig:
        """The schedule the model was trained with in mind (from its training config),
        with the settings of its :data:`SAMPLING_FILE` over it."""
        kind = FlowSamplingConfig if self.is_flow else SamplingConfig
        stored = self.checkpoint.training_config.get("sampling", {})
        if self.sampling_file is None:
            return kind.model_validate(stored)
        return validate_config(kind, {**stored, **self._tuned_sampling}, str(self.sampling_file))

    def sampling_with(self, changes: dict) -> SamplingConfig | FlowSamplingConfig:
        """The default sampling settings with ``changes`` (field → value), validated."""
        defaults = self.sampling_defaults
        return type(defaults).model_validate({**defaults.model_dump(), **changes})

    def schedule_text(self, sampling) -> str:
        """The decoding schedule in words, e.g. for a run's log."""
        if self.is_flow:
            return f"{sampling.coordinate_steps} coordinate flow steps"
        levels = len(self.model.coord_sigmas) if sampling.levels is None else sampling.levels
        return f"{levels} levels × {sampling.steps_per_level} Langevin steps"

    def sample(self, n: int, seed: int = 0, **options) -> list[Structure]:
        """``n`` crystals; ``options`` as for :meth:`sample_table`."""
        return self.sample_table(n, seed, **options)[0]

    def sample_table(
        self,
        n: int,
        seed: int = 0,
        constraints: Constraints | None = None,
        sampling: SamplingConfig | FlowSamplingConfig | None = None,
        steering_steps: int = 300,
        start_from: list[Structure] | None = None,
        progress: Callable[[int], None] | None = None,
        compositions: list[Composition] | None = None,
    ) -> tuple[list[Structure], pd.DataFrame]:
        """``n`` crystals and their table. Deterministic for a given ``seed`` on one device.

        ``start_from``: crystals whose latent means are the starting points (cycled) for
        steering, instead of draws from the prior. ``progress`` is called with the number
        of crystals finished after each batch. ``compositions`` (``n`` cell compositions,
        crystalflow models only): each crystal's composition is given, not drawn (see
        :mod:`gendesign.sources.hull_compositions`).
        """
        model = self.model
        if compositions is not None:
            self._require_flow("given compositions")
            if len(compositions) != n:
                raise ConfigError(f"{len(compositions)} compositions given for {n} crystals")
        constraints = constraints or Constraints()
        constraints.check_against(
            model.atomic_numbers.tolist(), model.max_atoms, model.property_names,
            model.chemistry.config.max_species if self.is_flow else None,
        )  # fmt: skip
        if constraints.required and not self.is_flow:
            raise ConfigError(
                "--elements: a cdvae model picks each atom's element on its own and cannot "
                "promise every listed element; add --within for crystals of any subset"
            )
        sampling = sampling or self.sampling_defaults
        generator = torch.Generator(device=self.device).manual_seed(seed)
        starts = self.encode(start_from) if start_from else None
        structures: list[Structure] = []
        predicted: list[torch.Tensor] = []
        extra: dict[str, list] = {}
        for start in range(0, n, sampling.batch_size):
            size = min(sampling.batch_size, n - start)
            if starts is None:
                z = torch.randn((size, model.latent_dim), generator=generator, device=self.device)
            else:
                z = starts[torch.arange(start, start + size) % len(starts)]
            z = steer_latents(model, z, constraints.targets, steps=steering_steps)
            with torch.inference_mode():
                predicted.append(
                    model.property_values(z) * model.property_std + model.property_mean
                )
            given = compositions[start : start + size] if compositions is not None else None
            batch, columns = self._decode(z, sampling, constraints, generator, given)
            structures += batch
            for name, values in columns.items():
                extra.setdefault(name, []).extend(values)
            if progress:
                progress(size)
        values = torch.cat(predicted).cpu().numpy() if predicted else None
        table = self._table(structures, values, constraints, seed)
        for name, column in extra.items():
            table[name] = column
        return structures, table

    def propose_compositions(
        self,
        n: int,
        seed: int = 0,
        constraints: Constraints | None = None,
        steering_steps: int = 300,
    ) -> list[tuple[Composition, bool]]:
        """``n`` cell compositions from the chemistry model under ``constraints``, steered
        and conditioned toward its targets as :meth:`sample_table` is (no lattice, no
        atoms: milliseconds each), with whether each is charge balanced."""
        from gendesign.model.crystalflow.sampling import conditions_for, draw_compositions

        self._require_flow("composition proposals")
        constraints = constraints or Constraints()
        model, sampling = self.model, self.sampling_defaults
        generator = torch.Generator(device=self.device).manual_seed(seed)
        symbols = model.chemistry.atomic_numbers.tolist()
        proposals = []
        for start in range(0, n, sampling.batch_size):
            size = min(sampling.batch_size, n - start)
            z = torch.randn((size, model.latent_dim), generator=generator, device=self.device)
            z = steer_latents(model, z, constraints.targets, steps=steering_steps)
            condition = conditions_for(model.chemistry, constraints.targets, size, generator)
            drawn = draw_compositions(model, z, sampling, constraints, generator, condition)
            batch = drawn.composition
            for b in range(size):
                present = batch.species[b] >= 0
                amounts = {
                    Element.from_Z(int(symbols[k])): int(c)
                    for k, c in zip(
                        batch.species[b][present].tolist(),
                        batch.counts[b][present].tolist(),
                        strict=True,
                    )
                }
                if amounts:
                    proposals.append((Composition(amounts), drawn.balanced[b]))
        return proposals

    def _require_flow(self, what: str) -> None:
        if not self.is_flow:
            raise ConfigError(f"{what} need a crystalflow model; this one is a cdvae model")

    def _decode(
        self, z, sampling, constraints, generator, compositions=None
    ) -> tuple[list[Structure], dict]:
        """Structures for latents ``z`` and per-sample columns of what the decoder did."""
        if self.is_flow:
            from gendesign.model.crystalflow.sampling import decode as decode_flow

            decoded = decode_flow(self.model, z, sampling, constraints, generator, compositions)
            return decoded.structures, {
                "charge_balanced": decoded.charge_balanced,
                "composition_attempts": decoded.composition_attempts,
                "symmetrised": decoded.symmetrised,
                "template_space_group": decoded.template_space_group,
                "placements": decoded.placements,
            }
        from gendesign.model.cdvae.sampling import decode

        return decode(self.model, z, sampling, constraints, generator).structures(), {}

    def encode(self, structures: list[Structure]) -> torch.Tensor:
        """Latent means (B, latent_dim) of ``structures``."""
        if self.is_flow:
            from gendesign.model.crystalflow.sampling import encode_structures

            return encode_structures(self.model, structures)
        from torch_geometric.loader import DataLoader

        from gendesign.data.arrays import CrystalArrays
        from gendesign.data.crystal_set import CrystalSet

        crystals = CrystalSet([str(k) for k in range(len(structures))], list(structures))
        arrays = CrystalArrays.from_crystal_set(crystals, property_names=[])
        means = []
        with torch.inference_mode():
            for batch in DataLoader(arrays, batch_size=256):
                means.append(self.model.encode(batch.to(self.device))[0])
        return torch.cat(means)

    def _table(self, structures, values, constraints: Constraints, seed: int) -> pd.DataFrame:
        rows = []
        for k, structure in enumerate(structures):
            properties = {
                name: float(values[k, j]) for j, name in enumerate(self.model.property_names)
            }
            a, b, c = structure.lattice.abc
            alpha, beta, gamma = structure.lattice.angles
            rows.append(
                {
                    "id": f"sample-{seed}-{k:05d}",
                    "formula": structure.composition.reduced_formula,
                    "n_atoms": len(structure),
                    "a": a, "b": b, "c": c, "alpha": alpha, "beta": beta, "gamma": gamma,
                    **{f"{name}_latent": value for name, value in properties.items()},
                    **constraints.report(structure, properties),
                }
            )  # fmt: skip
        return pd.DataFrame(rows)
