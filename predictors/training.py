"""Training a property predictor on a named dataset with pytorch-lightning.

Early stopping watches the holdout loss; the best weights are written as a
:class:`~predictors.checkpoint.PredictorCheckpoint` with the holdout metrics,
beside a CSV log of every epoch and the resolved config.

Fine-tuning (``finetune_from``) starts the atom embedding and message-passing
layers from another predictor and gives every target a fresh head, so a small
dataset borrows what a large one taught about chemistry and geometry.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from pydantic import Field
from torch_geometric.loader import DataLoader

from gendesign.config import StrictConfig, load_config, write_resolved_config
from gendesign.data.arrays import CrystalArrays
from gendesign.data.datasets import PreparedDataset, load_dataset
from gendesign.data.preprocess import DataConfig
from gendesign.data.vocabulary import ElementVocabulary
from gendesign.nn.blocks import CrystalGraphNetworkConfig
from gendesign.nn.runs import fit_resumable, recovered_progress, saved_checkpoint
from predictors.graph_cache import with_neighbor_graphs
from predictors.lightning_module import PropertyRegressor
from predictors.loss import LossName
from predictors.model import PredictorCheckpoint, PropertyModel, load_predictor_checkpoint

log = logging.getLogger(__name__)
CHECKPOINT_NAME = "predictor.pt"


class PredictorTrainingConfig(StrictConfig):
    """Everything a training run needs; written beside its outputs."""

    data: DataConfig = Field(default_factory=lambda: DataConfig(dataset="mp20"))
    targets: list[str] | None = None  # default: the dataset's default targets
    model: CrystalGraphNetworkConfig = Field(default_factory=CrystalGraphNetworkConfig)
    loss: LossName = "mae"  # on standardised targets
    batch_size: int = Field(64, gt=0)  # crystals per optimiser step
    max_epochs: int = Field(150, gt=0)  # the run stops after this many epochs at most
    max_steps: int = -1  # -1: no limit (tests use a few steps)
    patience: int = Field(25, gt=0)  # epochs without holdout improvement before stopping
    learning_rate: float = Field(1e-3, gt=0)  # Adam's
    seed: int = 0  # weights and shuffling; an ensemble's members differ in it
    max_train_crystals: int | None = Field(None, gt=0)  # a seeded subset, for small-data runs
    finetune_from: str | None = None  # predictor checkpoint to start from (its model config wins)
    freeze_message_passing: bool = False  # with finetune_from: train only embedding and heads
    out_dir: str = "outputs/predictor"  # the run folder (predictor.pt, config.yaml, log)


def resolve_targets(config: PredictorTrainingConfig, data: PreparedDataset) -> list[str]:
    return data.require_properties(list(config.targets or data.spec.targets), "targets")


def build_regressor(
    config: PredictorTrainingConfig,
    data: PreparedDataset,
    start: PredictorCheckpoint | None = None,
) -> PropertyRegressor:
    """A fresh regressor for ``config``; with ``start``, its embedding and message
    passing copied from that checkpoint (heads stay new)."""
    targets = resolve_targets(config, data)
    columns = [data.property_names.index(t) for t in targets]
    model_config = start.model.network.config if start else config.model
    regressor = PropertyRegressor(
        targets=targets,
        target_columns=columns,
        target_mean=data.property_scaler.mean[columns].tolist(),
        target_std=data.property_scaler.std[columns].tolist(),
        model_config=model_config.model_dump(),
        learning_rate=config.learning_rate,
        loss=config.loss,
        freeze_message_passing=bool(start) and config.freeze_message_passing,
    )
    if start:
        shared = {
            k: v for k, v in start.model.network.state_dict().items() if not k.startswith("heads.")
        }
        regressor.network.load_state_dict(shared, strict=False)
    return regressor


def train_predictor(config: PredictorTrainingConfig) -> Path:
    """Train, keep the best holdout weights, and return the checkpoint path.

    Interrupting (Ctrl-C) stops training but still writes the best weights so far.
    """
    pl.seed_everything(config.seed, workers=True)
    data = load_dataset(config.data)
    start = load_predictor_checkpoint(config.finetune_from) if config.finetune_from else None
    if start:
        config = config.model_copy(update={"model": start.model.network.config})
    regressor = build_regressor(config, data, start)
    out = Path(config.out_dir)
    write_resolved_config(config, out)

    train = training_subset(config, data)
    model = config.model
    train_loader = DataLoader(
        with_neighbor_graphs(train, model.cutoff, model.max_neighbors),
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
    )
    holdout_loader = holdout_graphs(config, data)
    outcome = fit_resumable(
        regressor, train_loader, holdout_loader, out,
        train_crystals=len(train), max_epochs=config.max_epochs, max_steps=config.max_steps,
        max_hours=None, gradient_clip=0.0, accelerator="auto", resume=False,
        patience=config.patience, deterministic=True, log_every_n_steps=10,
    )  # fmt: skip
    if outcome.best_checkpoint:
        regressor = PropertyRegressor.load_from_checkpoint(
            outcome.best_checkpoint, map_location="cpu", weights_only=True
        )
    return write_checkpoint(config, data, start, regressor, holdout_loader, outcome.metrics)


def recover_predictor(run_dir: str | Path) -> Path:
    """Write ``predictor.pt`` for a run that was killed before it could: from its config
    and the best Lightning checkpoint it left in ``lightning/``."""
    run_dir = Path(run_dir)
    saved = saved_checkpoint(run_dir)
    config = load_config(PredictorTrainingConfig, run_dir / "config.yaml")
    config = config.model_copy(update={"out_dir": str(run_dir)})
    data = load_dataset(config.data)
    start = load_predictor_checkpoint(config.finetune_from) if config.finetune_from else None
    regressor = PropertyRegressor.load_from_checkpoint(saved, map_location="cpu")
    progress = recovered_progress(saved, len(training_subset(config, data)))
    return write_checkpoint(config, data, start, regressor, holdout_graphs(config, data), progress)


def training_subset(config: PredictorTrainingConfig, data: PreparedDataset) -> CrystalArrays:
    """The train split, or its seeded subset of ``max_train_crystals``."""
    return data.training_subset(config.max_train_crystals, config.seed)


def holdout_graphs(config: PredictorTrainingConfig, data: PreparedDataset) -> DataLoader:
    model = config.model
    return DataLoader(
        with_neighbor_graphs(data.splits["holdout"], model.cutoff, model.max_neighbors),
        batch_size=config.batch_size,
    )


def write_checkpoint(
    config: PredictorTrainingConfig,
    data: PreparedDataset,
    start: PredictorCheckpoint | None,
    regressor: PropertyRegressor,
    holdout_loader: DataLoader,
    progress: dict,
) -> Path:
    """Score ``regressor`` on the holdout and save it with everything needed to use it."""
    validator = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    scores = validator.validate(regressor, holdout_loader, verbose=False)[0]
    metrics = {k: float(v) for k, v in scores.items()}
    vocabulary = data.vocabulary
    if start:  # elements met in either run have trained embeddings
        vocabulary = ElementVocabulary(
            set(vocabulary.atomic_numbers) | set(start.model.vocabulary.atomic_numbers)
        )
    units = [data.spec.unit(t) for t in regressor.targets]
    model = PropertyModel(
        regressor.network.cpu().eval(),
        regressor.targets,
        units,
        regressor.target_mean.cpu(),
        regressor.target_std.cpu(),
        vocabulary,
    )
    checkpoint = PredictorCheckpoint(
        model=model.eval(),
        dataset=data.name,
        dataset_hash=data.cache_path.stem if data.cache_path else "",
        units=dict(zip(regressor.targets, units, strict=True)),
        protocol=data.protocol,
        training_config=config.model_dump(mode="json"),
        metrics={"holdout": metrics, **progress},
    )
    path = checkpoint.save(Path(config.out_dir) / CHECKPOINT_NAME)
    log.info("predictor written to %s (holdout %s)", path, metrics)
    return path
