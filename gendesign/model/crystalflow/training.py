"""Training either stage of the ``crystalflow`` generator (``gendesign train``).

A run trains one stage (``stage: chemistry`` or ``stage: coordinates`` in its
config) and writes, like every gendesign training run, its resolved
``config.yaml``, ``lightning/last.ckpt`` after every epoch (``--resume``), the
best holdout epoch, a CSV log, and ``stage.pt``: the stage's weights with its
config, vocabulary and standardisation. ``python -m gendesign.model.crystalflow.bundle``
joins a chemistry and a coordinates run into one bundled model.

Both stages share one element vocabulary: every element of the chemistry data
(train, holdout and position-less crystals), in canonical formula order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from gendesign.config import write_resolved_config
from gendesign.data.arrays import CrystalArrays
from gendesign.data.chemistry_table import (
    ChemistryData,
    ChemistryTable,
    canonical_elements,
    load_chemistry_data,
)
from gendesign.data.datasets import get_dataset_spec, load_dataset
from gendesign.data.lattice import params_from_matrix
from gendesign.data.scalers import StandardScaler
from gendesign.errors import InputError
from gendesign.model.crystalflow.chemistry_vae import (
    LABEL_BANK_SIZE,
    ChemistryVAE,
    CompositionBatch,
)
from gendesign.model.crystalflow.config import FlowTrainingConfig
from gendesign.model.crystalflow.spacegroup_templates import BatchSymmetry
from gendesign.model.crystalflow.symmetric_paths import SymmetricPath, TemplatedCrystals
from gendesign.model.crystalflow.torus_flow import (
    CoordinateFlow,
    flow_matching_loss,
    free_path,
    lattice_invariants,
)
from gendesign.nn.runs import (
    fit_resumable,
    last_checkpoint,
    log_losses,
    recovered_progress,
    saved_checkpoint,
    with_fixed_noise,
)

STAGE_FILE = "stage.pt"


def vocabulary_of(data: ChemistryData) -> list[int]:
    """Atomic numbers of every element in the chemistry data, canonical order."""
    present = set(np.unique(data.train.elements).tolist()) | set(
        np.unique(data.holdout.elements).tolist()
    )
    return canonical_elements(sorted(present - {0}))


def composition_tensors(
    table: ChemistryTable, lookup: torch.Tensor, slots: int
) -> CompositionBatch:
    elements = torch.from_numpy(table.elements[:, :slots])
    counts = torch.from_numpy(table.counts[:, :slots])
    species = torch.where(elements > 0, lookup[elements], torch.full_like(elements, -1))
    return CompositionBatch(species, torch.where(elements > 0, counts, 0))


class ChemistryBatches:
    """Index batches of a :class:`ChemistryTable` → (composition, lengths, angles, properties)."""

    def __init__(self, table: ChemistryTable, lookup: torch.Tensor, slots: int):
        self.composition = composition_tensors(table, lookup, slots)
        self.lengths = torch.from_numpy(table.lengths)
        self.angles = torch.from_numpy(table.angles)
        self.properties = torch.from_numpy(table.properties).float()

    def __call__(self, index: list[int]):
        i = torch.tensor(index)
        c = self.composition
        return (
            CompositionBatch(c.species[i], c.counts[i]),
            self.lengths[i],
            self.angles[i],
            self.properties[i],
        )


class _CellTensors:
    """Flat per-atom and per-cell training tensors of one set of cells."""

    def __init__(self, arrays: CrystalArrays, lookup: torch.Tensor):
        self.arrays = arrays
        self.species = lookup[arrays.atom_types]
        lengths, angles = params_from_matrix(arrays.lattice)
        self.lattice = lattice_invariants(lengths, angles, arrays.num_atoms)

    def atoms(self, i: int) -> torch.Tensor:
        return torch.arange(self.arrays.offsets[i], self.arrays.offsets[i + 1])


class CoordinateBatches:
    """Index batches of crystals with positions → (frac, species, lattice invariants,
    num_atoms, path). With ``templated``, each crystal takes its own space group's path
    (in its template's cell) with probability ``template_paths``, drawn anew each time
    (``fixed``: the same draw for the same batch, for a comparable holdout loss)."""

    def __init__(self, arrays: CrystalArrays, lookup: torch.Tensor,
                 templated: TemplatedCrystals | None = None, template_paths: float = 0.0,
                 seed: int = 0, fixed: bool = False):  # fmt: skip
        self.free = _CellTensors(arrays, lookup)
        self.templated = templated
        self.cells = _CellTensors(templated.arrays, lookup) if templated else None
        self.share = template_paths if templated else 0.0
        self.seed, self.fixed = seed, fixed
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, index: list[int]):
        if self.fixed:
            self.generator.manual_seed(self.seed + index[0])
        draws = torch.rand(len(index), generator=self.generator).tolist()
        frac, species, lattice, num_atoms, templates = [], [], [], [], []
        for i, draw in zip(index, draws, strict=True):
            template = self.templated.templates[i] if self.share > draw else None
            cells = self.cells if template is not None else self.free
            atoms = cells.atoms(i)
            frac.append(cells.arrays.frac_coords[atoms].float())
            species.append(cells.species[atoms])
            lattice.append(cells.lattice[i])
            num_atoms.append(len(atoms))
            templates.append(template)
        path = (
            SymmetricPath(BatchSymmetry.of(templates, num_atoms))
            if any(t is not None for t in templates)
            else free_path
        )
        return (torch.cat(frac), torch.cat(species), torch.stack(lattice),
                torch.tensor(num_atoms), path)  # fmt: skip


class FlowStageModule(pl.LightningModule):
    """One stage of the generator under Lightning: losses, fixed holdout noise, Adam."""

    def __init__(self, training_config: dict, vocabulary: list[int], max_atoms: int,
                 property_names: list[str]):  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        # sampler settings live in the bundle, not in a stage (runs of an earlier version
        # carried a ``sampling`` section)
        training_config = {k: v for k, v in training_config.items() if k != "sampling"}
        self.config = FlowTrainingConfig.model_validate(training_config)
        model = self.config.model
        if self.config.stage == "chemistry":
            self.network = ChemistryVAE(model.chemistry, vocabulary, max_atoms, property_names)
        else:
            self.network = CoordinateFlow(model.coordinates, len(vocabulary))

    def losses(self, batch) -> dict[str, torch.Tensor]:
        if self.config.stage == "chemistry":
            composition, lengths, angles, properties = batch
            lattice = self.network.lattice_features(lengths, angles, composition.num_atoms)
            return self.network.losses(composition, lattice, properties)
        frac, species, lattice, num_atoms, path = batch
        return {
            "coordinates": flow_matching_loss(
                self.network, frac, species, lattice, num_atoms, path=path
            )
        }

    def _step(self, batch, stage: str) -> torch.Tensor:
        losses = self.losses(batch)
        if self.config.stage == "chemistry":
            loss, crystals = self.network.weighted_loss(losses), len(batch[-1])
        else:
            loss, crystals = losses["coordinates"], len(batch[3])  # num_atoms
        log_losses(self, stage, loss, losses, crystals)
        return loss

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_index: int) -> None:
        with_fixed_noise(self, batch_index, lambda: self._step(batch, "val"))

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        def move(x):
            if isinstance(x, CompositionBatch):
                return CompositionBatch(x.species.to(device), x.counts.to(device))
            if isinstance(x, SymmetricPath):
                return SymmetricPath(x.symmetry.to(device))
            return x.to(device) if isinstance(x, torch.Tensor) else x

        return tuple(move(x) for x in batch)

    def configure_optimizers(self):
        c = self.config
        optimizer = torch.optim.Adam(self.parameters(), lr=c.learning_rate)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=c.lr_factor, patience=c.lr_patience, min_lr=c.min_learning_rate
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"},
        }


def _loader(size: int, collate, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        list(range(size)), batch_size=batch_size, shuffle=shuffle, generator=generator,
        collate_fn=collate,
    )  # fmt: skip


def train_flow_stage(config: FlowTrainingConfig, resume: bool = False) -> Path:
    """Train one stage (or continue the run in ``config.out_dir``); returns ``stage.pt``."""
    pl.seed_everything(config.seed, workers=True)
    spec = get_dataset_spec(config.data.dataset)
    names = list(config.properties if config.properties is not None else spec.targets)
    chemistry = load_chemistry_data(
        spec.name, names, config.data.data_root, config.include_positionless
    )
    vocabulary = vocabulary_of(chemistry)
    max_atoms = int(config.data.max_atoms or spec.max_atoms or chemistry.train.num_atoms.max())
    out = Path(config.out_dir)
    last_checkpoint(out, resume)  # before any work: a --resume without a checkpoint fails now
    module = FlowStageModule(config.model_dump(mode="json"), vocabulary, max_atoms, names)
    if config.finetune_from and not resume:
        _start_from(module.network, config.finetune_from, config.stage, vocabulary)
    lookup = module.network.element_lookup if config.stage == "chemistry" else _lookup(vocabulary)
    if config.stage == "chemistry":
        slots = config.model.chemistry.max_species
        train, holdout = chemistry.train, chemistry.holdout
        train = train.subset(_subset(np.flatnonzero(train.num_species <= slots), config))
        _fit_standardisation(module.network, train, config.seed)
        train_collate, holdout_collate = (
            ChemistryBatches(train, lookup, slots), ChemistryBatches(holdout, lookup, slots)
        )  # fmt: skip
        sizes = (len(train), len(holdout))
    else:
        data = load_dataset(config.data)
        train_arrays, holdout_arrays = (
            coordinate_training_crystals(config, data),
            data.splits["holdout"],
        )
        templated = (
            (TemplatedCrystals.of(train_arrays), TemplatedCrystals.of(holdout_arrays))
            if config.template_paths > 0
            else (None, None)
        )
        train_collate = CoordinateBatches(
            train_arrays, lookup, templated[0], config.template_paths, config.seed
        )
        holdout_collate = CoordinateBatches(
            holdout_arrays, lookup, templated[1], config.template_paths, config.seed, fixed=True
        )
        sizes = (len(train_arrays), len(holdout_arrays))
    write_resolved_config(config, out)
    train_loader = _loader(sizes[0], train_collate, config.batch_size, True, config.seed)
    holdout_loader = _loader(sizes[1], holdout_collate, config.batch_size, False, config.seed)
    outcome = fit_resumable(
        module, train_loader, holdout_loader, out,
        train_crystals=sizes[0], max_epochs=config.max_epochs, max_hours=config.max_hours,
        gradient_clip=config.gradient_clip, accelerator=config.accelerator, resume=resume,
    )  # fmt: skip
    if outcome.best_checkpoint:
        module = FlowStageModule.load_from_checkpoint(
            outcome.best_checkpoint, map_location="cpu", weights_only=True
        )
    metrics = outcome.metrics
    metrics.update(_data_note(config, chemistry))
    return export_stage(module, config, chemistry.dataset_hash, metrics)


def recover_flow_stage(run_dir: str | Path, use_last: bool = False) -> Path:
    """``stage.pt`` from the Lightning checkpoints of a killed run (best epoch, or last)."""
    from gendesign.config import load_config

    run_dir = Path(run_dir)
    saved = saved_checkpoint(run_dir, use_last)
    config = load_config(FlowTrainingConfig, run_dir / "config.yaml", {"out_dir": str(run_dir)})
    spec = get_dataset_spec(config.data.dataset)
    names = list(config.properties if config.properties is not None else spec.targets)
    chemistry = load_chemistry_data(
        spec.name, names, config.data.data_root, config.include_positionless
    )
    module = FlowStageModule.load_from_checkpoint(saved, map_location="cpu", weights_only=True)
    train_crystals = (
        len(chemistry.train)
        if config.stage == "chemistry"
        else len(load_dataset(config.data).splits["train"])
    )
    metrics = {**recovered_progress(saved, train_crystals), **_data_note(config, chemistry)}
    return export_stage(module, config, chemistry.dataset_hash, metrics)


def export_stage(module: FlowStageModule, config: FlowTrainingConfig, data_hash: str,
                 metrics: dict) -> Path:  # fmt: skip
    hp = module.hparams
    path = Path(config.out_dir) / STAGE_FILE
    torch.save(
        {
            "format": "gendesign-crystalflow-stage",
            "stage": config.stage,
            "vocabulary": list(hp.vocabulary),
            "max_atoms": int(hp.max_atoms),
            "property_names": list(hp.property_names),
            "state_dict": {k: v.cpu() for k, v in module.network.state_dict().items()},
            "training_config": config.model_dump(mode="json"),
            "dataset": config.data.dataset,
            "dataset_hash": data_hash,
            "metrics": metrics,
        },
        path,
    )
    return path


def _data_note(config: FlowTrainingConfig, chemistry: ChemistryData) -> dict:
    """How many crystals the stage learned from, and how many of them had no positions."""
    if config.stage == "coordinates":
        return {"positionless_crystals": 0}
    return {
        "positionless_crystals": int(min(chemistry.positionless_crystals, len(chemistry.train)))
    }


def coordinate_training_crystals(config: FlowTrainingConfig, data=None) -> CrystalArrays:
    """The crystals a coordinates run learns from: its seeded subset of the train split."""
    data = data or load_dataset(config.data)
    train = data.splits["train"]
    return train.subset(_subset(np.arange(len(train)), config).tolist())


def _subset(index: np.ndarray, config: FlowTrainingConfig) -> np.ndarray:
    """``index``, or a seeded random ``max_train_crystals`` of it (in order)."""
    limit = config.max_train_crystals
    if limit is None or limit >= len(index):
        return index
    return np.sort(np.random.default_rng(config.seed).permutation(index)[:limit])


def _start_from(network: torch.nn.Module, source: str, stage: str, vocabulary: list[int]) -> None:
    """Load ``stage``'s weights from a crystalflow model (bundled name or model.pt) or a
    stage.pt into ``network``; one sentence when the source does not fit."""
    from gendesign.model.common.bundled import BUNDLED
    from gendesign.model.crystalflow.model import CrystalFlow
    from gendesign.nn.checkpoint import Checkpoint
    from gendesign.torch_files import load_payload

    if Path(source).name == STAGE_FILE:
        payload = load_payload(source, f"{stage} stage file")
        if payload.get("stage") != stage:
            raise InputError(f"finetune_from {source}: not a crystalflow {stage} stage")
        weights, source_vocabulary = payload["state_dict"], payload["vocabulary"]
    else:
        name = BUNDLED.name_of(source)
        path = BUNDLED.files(name)[0] if name else source
        model = Checkpoint.load(path, (CrystalFlow,), "crystalflow model (finetune_from)").model
        weights = getattr(model, stage).state_dict()
        source_vocabulary = model.atomic_numbers.tolist()
    if list(source_vocabulary) != list(vocabulary):
        raise InputError(f"finetune_from {source}: its element vocabulary is not this data's")
    try:
        network.load_state_dict(weights)
    except RuntimeError:
        raise InputError(
            f"finetune_from {source}: its {stage} network has other sizes than this config's "
            f"model.{stage}"
        ) from None


def _lookup(vocabulary: list[int]) -> torch.Tensor:
    lookup = torch.full((119,), -1, dtype=torch.long)
    lookup[torch.tensor(vocabulary)] = torch.arange(len(vocabulary))
    return lookup


def _fit_standardisation(network: ChemistryVAE, train: ChemistryTable, seed: int) -> None:
    """Lattice and property standardisation from the training table, and a bank of
    training labels from which sampling draws conditions inside a target range."""
    lengths = torch.from_numpy(train.lengths)
    scale = torch.from_numpy(train.num_atoms).double().pow(1 / 3)[:, None]
    raw = torch.cat([torch.log(lengths / scale), torch.from_numpy(train.angles)], 1)
    lattice = StandardScaler.fit(raw)
    network.lattice_mean.copy_(lattice.mean.float())
    network.lattice_std.copy_(lattice.std.float())
    values = torch.from_numpy(train.properties)
    if values.shape[1]:
        properties = StandardScaler.fit(values)
        network.property_mean.copy_(properties.mean.float())
        network.property_std.copy_(properties.std.float())
        rows = np.sort(np.random.default_rng(seed).permutation(len(train))[:LABEL_BANK_SIZE])
        network.label_bank[: len(rows)] = values[rows].float()
