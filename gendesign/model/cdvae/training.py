"""``gendesign train``: fit the generative model on a dataset's train split.

The run folder gets the resolved ``config.yaml``, Lightning checkpoints
(``lightning/last.ckpt`` after every epoch, for ``--resume``; the best holdout
epoch), a CSV log of every loss per epoch, and ``model.pt``: the self-contained
checkpoint that sampling loads. Ctrl-C stops training and still writes
``model.pt`` from the best weights so far.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch_geometric.loader import DataLoader

from gendesign.config import load_config, write_resolved_config
from gendesign.data.arrays import CrystalArrays
from gendesign.data.datasets import PreparedDataset, load_dataset
from gendesign.data.scalers import StandardScaler
from gendesign.model.cdvae.config import TrainingConfig
from gendesign.model.cdvae.lightning_module import CDVAEModule
from gendesign.nn.checkpoint import Checkpoint
from gendesign.nn.runs import fit_resumable, last_checkpoint, recovered_progress, saved_checkpoint

MODEL_FILE = "model.pt"


def train_model(config: TrainingConfig, resume: bool = False) -> Path:
    """Train (or, with ``resume``, continue the run in ``config.out_dir``); return the
    path of the written ``model.pt``."""
    pl.seed_everything(config.seed, workers=True)
    data = load_dataset(config.data)
    out = Path(config.out_dir)
    last_checkpoint(out, resume)  # before any work: a --resume without a checkpoint fails now
    train = data.training_subset(config.max_train_crystals, config.seed)
    module = build_module(config, data, train)
    write_resolved_config(config, out)

    train_loader = DataLoader(
        train,
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
    )
    holdout_loader = DataLoader(data.splits["holdout"], batch_size=config.batch_size)
    outcome = fit_resumable(
        module, train_loader, holdout_loader, out,
        train_crystals=len(train), max_epochs=config.max_epochs, max_steps=config.max_steps,
        max_hours=config.max_hours, gradient_clip=config.gradient_clip,
        accelerator=config.accelerator, resume=resume,
    )  # fmt: skip
    if outcome.best_checkpoint:
        module = CDVAEModule.load_from_checkpoint(
            outcome.best_checkpoint, map_location="cpu", weights_only=True
        )
    metrics = outcome.metrics
    return export_model(module, config, data, metrics)


def recover_model(run_dir: str | Path, use_last: bool = False) -> Path:
    """Write ``model.pt`` from the Lightning checkpoints a run left behind: the best
    epoch's (default; for a run that was killed before it could write ``model.pt``) or,
    with ``use_last``, the last epoch's."""
    run_dir = Path(run_dir)
    saved = saved_checkpoint(run_dir, use_last)
    config = load_config(TrainingConfig, run_dir / "config.yaml", {"out_dir": str(run_dir)})
    data = load_dataset(config.data)
    module = CDVAEModule.load_from_checkpoint(saved, map_location="cpu", weights_only=True)
    train_crystals = len(data.training_subset(config.max_train_crystals, config.seed))
    return export_model(module, config, data, recovered_progress(saved, train_crystals))


def export_model(
    module: CDVAEModule, config: TrainingConfig, data: PreparedDataset, metrics: dict
) -> Path:
    """Save ``module``'s model as the run's self-contained ``model.pt``."""
    checkpoint = Checkpoint(
        model=module.model.cpu().eval(),
        dataset=data.name,
        protocol=data.protocol,
        dataset_hash=data.cache_path.stem if data.cache_path else "",
        units={name: data.spec.unit(name) for name in module.model.property_names},
        training_config=config.model_dump(mode="json"),
        metrics=metrics,
    )
    return checkpoint.save(Path(config.out_dir) / MODEL_FILE)


def build_module(
    config: TrainingConfig, data: PreparedDataset, train: CrystalArrays
) -> CDVAEModule:
    """A fresh module with standardisation fitted on ``train``."""
    names = data.require_properties(
        config.properties if config.properties is not None else list(data.spec.targets),
        "properties",
    )
    columns = [data.property_names.index(name) for name in names]
    scaled = torch.cat(
        [train.lengths / train.num_atoms[:, None].double().pow(1 / 3), train.angles], 1
    )
    lattice = StandardScaler.fit(scaled)
    properties = StandardScaler.fit(train.properties[:, columns])
    max_atoms = data.config.max_atoms or data.spec.max_atoms or int(train.num_atoms.max())
    return CDVAEModule(
        model_config=config.model.model_dump(mode="json"),
        training_config=config.model_dump(mode="json"),
        max_atoms=int(max_atoms),
        # the holdout comes from the training file: its elements belong in the vocabulary
        atomic_numbers=sorted(
            set(data.vocabulary.atomic_numbers)
            | set(data.splits["holdout"].atom_types.unique().tolist())
        ),
        property_names=names,
        property_columns=columns,
        lattice_mean=lattice.mean.tolist(),
        lattice_std=lattice.std.tolist(),
        property_mean=properties.mean.tolist(),
        property_std=properties.std.tolist(),
    )
