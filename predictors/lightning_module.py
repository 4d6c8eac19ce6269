"""Training wrapper: standardised masked loss, per-target MAE in physical units."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from gendesign.nn.blocks import CrystalGraphNetwork, CrystalGraphNetworkConfig
from predictors.loss import LossName, masked_loss


class PropertyRegressor(pl.LightningModule):
    """A :class:`CrystalGraphNetwork` learning ``targets`` (columns ``target_columns`` of
    the batch's ``y``), standardised with the train split's mean and std."""

    def __init__(
        self,
        targets: list[str],
        target_columns: list[int],
        target_mean: list[float],
        target_std: list[float],
        model_config: dict,
        learning_rate: float = 1e-3,
        loss: LossName = "mae",
        freeze_message_passing: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.targets = targets
        self.network = CrystalGraphNetwork(
            len(targets), CrystalGraphNetworkConfig.model_validate(model_config)
        )
        if freeze_message_passing:
            for parameter in self.network.message_passing.parameters():
                parameter.requires_grad_(False)
        self.register_buffer("target_columns", torch.tensor(target_columns, dtype=torch.long))
        self.register_buffer("target_mean", torch.tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(target_std, dtype=torch.float32))

    def on_train_epoch_start(self) -> None:
        if self.hparams.freeze_message_passing:  # frozen layers keep their BatchNorm statistics
            self.network.message_passing.eval()

    def forward(self, batch) -> torch.Tensor:
        """(crystals, targets) predictions in physical units."""
        return self.network(batch) * self.target_std + self.target_mean

    def _labels(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        y = batch.y[:, self.target_columns]
        mask = batch.y_mask[:, self.target_columns]
        return (y - self.target_mean) / self.target_std, mask

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        target, mask = self._labels(batch)
        loss = masked_loss(self.network(batch), target, mask, self.hparams.loss)
        self.log("train_loss", loss, batch_size=batch.num_graphs, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_index: int) -> None:
        target, mask = self._labels(batch)
        standardised = self.network(batch)
        loss = masked_loss(standardised, target, mask, self.hparams.loss)
        self.log("val_loss", loss, batch_size=batch.num_graphs, prog_bar=True)
        error = ((standardised - target) * self.target_std).abs()
        for k, name in enumerate(self.targets):
            labelled = mask[:, k]
            if labelled.any():
                self.log(
                    f"val_mae_{name}", error[labelled, k].mean(), batch_size=int(labelled.sum())
                )

    def configure_optimizers(self):
        trainable = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=self.hparams.learning_rate)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=8)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"},
        }
