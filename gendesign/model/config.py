"""Configuration of the CDVAE-style generative model and of its training.

Defaults follow CDVAE (Xie et al., ICLR 2022) where it fixes a value: KL weight
0.01, 50 geometric noise levels (coordinates σ 10 → 0.01 Å, atom types
σ 5 → 0.01), loss weights coord 10 / lattice 10 / type 1 / composition 1 /
number of atoms 1 / property 1, lattice teacher forcing early in training, and
annealed Langevin sampling with 100 steps per level at step size 1e-4.
Network widths are smaller than CDVAE's so that CPU training is practical;
``configs/model/*-gpu.yaml`` restore the paper's sizes.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from gendesign.config import StrictConfig
from gendesign.data.preprocess import DataConfig


class GraphNetworkSize(StrictConfig):
    """Width, depth and neighbourhood (Å) of a network on the periodic neighbour graph."""

    hidden_channels: int = Field(128, gt=0)
    num_layers: int = Field(3, gt=0)
    cutoff: float = Field(7.0, gt=0)
    max_neighbors: int | None = Field(20, gt=0)


class EncoderConfig(GraphNetworkSize):
    """Periodic GNN encoder (the predictors' CGCNN on the shared neighbour graph)."""

    num_gaussians: int = Field(50, gt=1)


class DecoderConfig(GraphNetworkSize):
    """Score network: invariant message passing over the noisy crystal's periodic graph."""

    num_layers: int = Field(4, gt=0)
    num_radial: int = Field(32, gt=1)


class NoiseConfig(StrictConfig):
    """Geometric noise levels for denoising score matching (coordinates in Å)."""

    num_levels: int = Field(50, gt=1)
    coord_sigma_begin: float = Field(10.0, gt=0)
    coord_sigma_end: float = Field(0.01, gt=0)
    type_sigma_begin: float = Field(5.0, gt=0)
    type_sigma_end: float = Field(0.01, gt=0)

    @model_validator(mode="after")
    def _decreasing(self) -> NoiseConfig:
        if self.coord_sigma_end >= self.coord_sigma_begin:
            raise ValueError("coord_sigma_end must be smaller than coord_sigma_begin")
        if self.type_sigma_end >= self.type_sigma_begin:
            raise ValueError("type_sigma_end must be smaller than type_sigma_begin")
        return self


class LossWeights(StrictConfig):
    coord: float = Field(10.0, ge=0)
    lattice: float = Field(10.0, ge=0)
    type: float = Field(1.0, ge=0)
    composition: float = Field(1.0, ge=0)
    num_atoms: float = Field(1.0, ge=0)
    property: float = Field(1.0, ge=0)
    kl: float = Field(0.01, ge=0)  # β


class ModelConfig(StrictConfig):
    """The network: sizes of the latent, heads, encoder, decoder and noise levels."""

    latent_dim: int = Field(128, gt=0)
    head_hidden: int = Field(128, gt=0)
    head_layers: int = Field(2, gt=0)
    encoder: EncoderConfig = EncoderConfig()
    decoder: DecoderConfig = DecoderConfig()
    noise: NoiseConfig = NoiseConfig()
    loss_weights: LossWeights = LossWeights()


class SamplingConfig(StrictConfig):
    """Annealed Langevin dynamics: ``steps_per_level`` steps on each of the model's noise
    levels (or the first ``levels`` of a coarser geometric ladder), step size
    ``step_lr · (σ / σ_min)²``."""

    steps_per_level: int = Field(100, gt=0)
    levels: int | None = Field(None, gt=1)  # None: the model's own noise levels
    step_lr: float = Field(1e-4, gt=0)
    batch_size: int = Field(256, gt=0)


class TrainingConfig(StrictConfig):
    """``gendesign train --config``: data, model and optimisation."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    properties: list[str] | None = None  # property heads for steering; None: the dataset's targets
    batch_size: int = Field(64, gt=0)
    max_epochs: int = Field(300, gt=0)
    max_steps: int = Field(-1, ge=-1)  # -1: no limit
    max_hours: float | None = Field(None, gt=0)  # wall-clock budget; the best epoch is kept
    learning_rate: float = Field(1e-3, gt=0)
    lr_factor: float = Field(0.6, gt=0, lt=1)  # ReduceLROnPlateau
    lr_patience: int = Field(20, ge=0)
    min_learning_rate: float = Field(1e-5, gt=0)
    gradient_clip: float = Field(1.0, gt=0)
    teacher_forcing_epochs: int = Field(50, ge=0)  # decoder sees the true lattice until then
    max_train_crystals: int | None = Field(None, gt=0)  # a subset, for quick runs
    seed: int = 0
    accelerator: str = "auto"  # "cpu", "gpu", "auto"
    out_dir: str = "outputs/models/run"
    sampling: SamplingConfig = SamplingConfig()
