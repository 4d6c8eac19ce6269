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

    hidden_channels: int = Field(128, gt=0)  # width of node and edge features
    num_layers: int = Field(3, gt=0)  # message-passing layers
    cutoff: float = Field(7.0, gt=0)  # Å, neighbour search radius
    max_neighbors: int | None = Field(20, gt=0)  # nearest neighbours kept per atom; None: all


class EncoderConfig(GraphNetworkSize):
    """Periodic GNN encoder (the predictors' CGCNN on the shared neighbour graph)."""

    num_gaussians: int = Field(50, gt=1)  # Gaussians expanding each distance


class DecoderConfig(GraphNetworkSize):
    """Score network: invariant message passing over the noisy crystal's periodic graph."""

    num_layers: int = Field(4, gt=0)  # message-passing layers
    num_radial: int = Field(32, gt=1)  # radial basis functions per distance


class NoiseConfig(StrictConfig):
    """Geometric noise levels for denoising score matching (coordinates in Å)."""

    num_levels: int = Field(50, gt=1)  # noise levels, geometric from begin to end
    coord_sigma_begin: float = Field(10.0, gt=0)  # Å, the largest coordinate noise
    coord_sigma_end: float = Field(0.01, gt=0)  # Å, the smallest
    type_sigma_begin: float = Field(5.0, gt=0)  # the largest noise on atom-type probabilities
    type_sigma_end: float = Field(0.01, gt=0)  # the smallest

    @model_validator(mode="after")
    def _decreasing(self) -> NoiseConfig:
        if self.coord_sigma_end >= self.coord_sigma_begin:
            raise ValueError("coord_sigma_end must be smaller than coord_sigma_begin")
        if self.type_sigma_end >= self.type_sigma_begin:
            raise ValueError("type_sigma_end must be smaller than type_sigma_begin")
        return self


class LossWeights(StrictConfig):
    """Weights of the training loss's terms (CDVAE's defaults)."""

    coord: float = Field(10.0, ge=0)  # coordinate score matching
    lattice: float = Field(10.0, ge=0)  # lattice lengths and angles
    type: float = Field(1.0, ge=0)  # atom types of the noisy crystal
    composition: float = Field(1.0, ge=0)  # the z → composition head
    num_atoms: float = Field(1.0, ge=0)  # the z → number-of-atoms head
    property: float = Field(1.0, ge=0)  # the z → property heads
    kl: float = Field(0.01, ge=0)  # β


class ModelConfig(StrictConfig):
    """The network: sizes of the latent, heads, encoder, decoder and noise levels."""

    latent_dim: int = Field(128, gt=0)  # size of z
    head_hidden: int = Field(128, gt=0)  # width of the heads on z
    head_layers: int = Field(2, gt=0)  # depth of the heads on z
    encoder: EncoderConfig = EncoderConfig()
    decoder: DecoderConfig = DecoderConfig()
    noise: NoiseConfig = NoiseConfig()
    loss_weights: LossWeights = LossWeights()


class SamplingConfig(StrictConfig):
    """Annealed Langevin dynamics: ``steps_per_level`` steps on each of the model's noise
    levels (or the first ``levels`` of a coarser geometric ladder), step size
    ``step_lr · (σ / σ_min)²``."""

    steps_per_level: int = Field(100, gt=0)  # Langevin steps on each noise level
    levels: int | None = Field(None, gt=1)  # None: the model's own noise levels
    step_lr: float = Field(1e-4, gt=0)  # step size at the smallest noise level
    batch_size: int = Field(256, gt=0)  # crystals decoded together


class TrainingConfig(StrictConfig):
    """``gendesign train --config``: data, model and optimisation."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    properties: list[str] | None = None  # property heads for steering; None: the dataset's targets
    batch_size: int = Field(64, gt=0)  # crystals per optimiser step
    max_epochs: int = Field(300, gt=0)  # the run stops after this many epochs at most
    max_steps: int = Field(-1, ge=-1)  # -1: no limit
    max_hours: float | None = Field(None, gt=0)  # wall-clock budget; the best epoch is kept
    learning_rate: float = Field(1e-3, gt=0)  # Adam's, at the start
    lr_factor: float = Field(0.6, gt=0, lt=1)  # ReduceLROnPlateau
    lr_patience: int = Field(20, ge=0)  # epochs without holdout improvement before it cuts
    min_learning_rate: float = Field(1e-5, gt=0)  # the cuts stop here
    gradient_clip: float = Field(1.0, gt=0)  # largest gradient norm
    teacher_forcing_epochs: int = Field(50, ge=0)  # decoder sees the true lattice until then
    max_train_crystals: int | None = Field(None, gt=0)  # a subset, for quick runs
    seed: int = 0  # weights, shuffling and noise
    accelerator: str = "auto"  # "cpu", "gpu", "auto"
    out_dir: str = "outputs/models/run"  # the run folder (model.pt, config.yaml, log/)
    sampling: SamplingConfig = SamplingConfig()
