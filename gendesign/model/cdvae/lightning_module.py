"""Lightning wrapper of :class:`~gendesign.model.cdvae.model.CDVAE`: weighted losses,
teacher forcing of the lattice for the first epochs, Adam with ReduceLROnPlateau."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from gendesign.model.cdvae.config import ModelConfig, TrainingConfig
from gendesign.model.cdvae.model import CDVAE
from gendesign.nn.runs import log_losses, with_fixed_noise


class CDVAEModule(pl.LightningModule):
    def __init__(
        self,
        model_config: dict,
        training_config: dict,
        max_atoms: int,
        atomic_numbers: list[int],
        property_names: list[str],
        property_columns: list[int],
        lattice_mean: list[float],
        lattice_std: list[float],
        property_mean: list[float],
        property_std: list[float],
    ):
        super().__init__()
        self.save_hyperparameters()  # everything needed to rebuild from a Lightning .ckpt
        self.training_config = TrainingConfig.model_validate(training_config)
        self.model = CDVAE(
            ModelConfig.model_validate(model_config),
            max_atoms,
            atomic_numbers,
            property_names,
            torch.tensor(lattice_mean),
            torch.tensor(lattice_std),
            torch.tensor(property_mean),
            torch.tensor(property_std),
        )
        # where the steering properties sit in the dataset's ``y`` columns
        self.register_buffer("property_columns", torch.tensor(property_columns, dtype=torch.long))

    def _step(self, batch, stage: str, teacher_forcing: bool) -> torch.Tensor:
        losses = self.model.losses(batch, teacher_forcing, batch.y[:, self.property_columns])
        loss = self.model.weighted_loss(losses)
        log_losses(self, stage, loss, losses, batch.num_graphs)
        return loss

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        forcing = self.current_epoch < self.training_config.teacher_forcing_epochs
        return self._step(batch, "train", forcing)

    def validation_step(self, batch, batch_index: int) -> None:
        # The same noise every epoch, so holdout losses compare across epochs (the best
        # epoch is chosen on them) instead of following the luck of the noise draw.
        with_fixed_noise(self, batch_index, lambda: self._step(batch, "val", teacher_forcing=False))

    def configure_optimizers(self):
        config = self.training_config
        optimizer = torch.optim.Adam(self.parameters(), lr=config.learning_rate)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            factor=config.lr_factor,
            patience=config.lr_patience,
            min_lr=config.min_learning_rate,
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"},
        }
