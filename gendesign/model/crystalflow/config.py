"""Configuration of the second-generation generator (``crystalflow``) and its training.

Two stages, trained separately because they learn from different crystals:

- the *chemistry* stage (:mod:`gendesign.model.crystalflow.chemistry_vae`), a VAE whose decoders
  emit an integer stoichiometry element by element and a lattice by flow
  matching, conditioned on the latent z and on property values (dropped at
  random in training, so sampling can use classifier-free guidance). It needs no
  positions and learns from every MP-20 train + val crystal;
- the *coordinate* stage (:mod:`gendesign.model.crystalflow.torus_flow`), flow matching of
  fractional coordinates on the 3-torus given the composition and the lattice,
  learned from the crystals that have positions.

CPU sizes are the defaults; ``configs/model/*-flow-gpu.yaml`` widen them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gendesign.config import StrictConfig
from gendesign.data.preprocess import DataConfig


class ChemistryConfig(StrictConfig):
    """Sizes and loss weights of the composition/lattice VAE."""

    latent_dim: int = Field(32, gt=0)  # size of z
    hidden: int = Field(256, gt=0)  # width of the GRU and MLPs
    max_species: int = Field(8, gt=0)  # distinct elements per crystal
    condition_dropout: float = Field(0.3, ge=0, le=1)  # per property, for guidance
    lattice_flow_layers: int = Field(3, gt=0)  # depth of the lattice flow's velocity MLP
    kl_weight: float = Field(0.1, ge=0)  # β of the VAE's KL term
    lattice_weight: float = Field(1.0, ge=0)  # of the lattice flow-matching loss
    property_weight: float = Field(1.0, ge=0)  # of the z → property head's loss


class CoordinateFlowConfig(StrictConfig):
    """Sizes of the periodic coordinate network (all atom pairs of a cell, no cutoff)."""

    hidden: int = Field(128, gt=0)  # width of the pair messages
    num_layers: int = Field(4, gt=0)  # message-passing layers
    frequencies: int = Field(8, gt=0)  # Fourier features sin/cos(2πkΔf), k = 1..frequencies


class FlowModelConfig(StrictConfig):
    chemistry: ChemistryConfig = ChemistryConfig()
    coordinates: CoordinateFlowConfig = CoordinateFlowConfig()


class FlowSamplingConfig(StrictConfig):
    """How crystals are decoded; network evaluations per sample = ``coordinate_steps``
    (+ ``lattice_steps`` of a small MLP, + composition tokens)."""

    coordinate_steps: int = Field(50, gt=0)  # Euler steps of the coordinate flow
    lattice_steps: int = Field(20, gt=0)  # Euler steps of the lattice flow
    # velocity × (1 + slope·t) in cells decoded without a template: sharper late steps;
    # 3 cut the raw P1 share from 86 % to 62 % on 200 mp20 samples (0 and 6 were worse), for
    # 3 points of structural validity. Templated cells run unannealed: with the slope, COV-P
    # fell from 99.25 % to 97.75 % (400 mp20 samples, the misses just past the cutoff)
    anneal_slope: float = Field(3.0, ge=0)
    # classifier-free guidance weight toward targets; on band gap 1.5-2.5 eV (300 mp20
    # samples, GNN-judged) 2 put 38.7 % in range, 1 put 29.4 % and 3 put 36.7 %
    guidance: float = Field(2.0, ge=0)
    temperature: float = Field(1.0, gt=0)  # of the composition logits
    # redraws of a charge-imbalanced composition; cheap (a few GRU steps), and a narrow
    # --elements / --atoms choice needs more than an open one
    composition_tries: int = Field(50, gt=0)
    snap_lattice: bool = True  # near-equal lengths / angles and near-60/90/120° made exact
    # decode each composition inside the symmetry of a training crystal it fits (when the
    # model has a template library); off: every atom moves freely
    space_group_templates: bool = True
    # placements of a cell whose atoms clash (< 0.5 Å); each costs coordinate_steps more
    # network evaluations for that cell only. 2,000 mp20 samples: 3 tries left 0.40 % of
    # cells clashing, 8 tries 0.15 %
    coordinate_tries: int = Field(8, gt=0)
    symmetrise: bool = True  # snap to the space group found at symprec (raw kept when it clashes)
    symprec: float = Field(0.2, gt=0)  # Å; 0.2 snaps about 10 % more samples than 0.1
    batch_size: int = Field(256, gt=0)  # crystals decoded together


class FlowTrainingConfig(StrictConfig):
    """``gendesign train --config`` for a ``crystalflow`` model: one stage per run."""

    kind: Literal["crystalflow"] = "crystalflow"  # tells gendesign train which family this is
    stage: Literal["chemistry", "coordinates"] = (
        "chemistry"  # which of the two stages this run trains
    )
    data: DataConfig = DataConfig()
    model: FlowModelConfig = FlowModelConfig()
    properties: list[str] | None = None  # conditioning properties; None: the dataset's targets
    include_positionless: bool = True  # chemistry stage: also the crystals without positions
    # coordinates stage: share of training crystals that take their own space group's path
    # (symmetric noise, orbit-shared displacement; see gendesign.model.crystalflow.symmetric_paths), as
    # templated sampling moves; the rest take free paths
    template_paths: float = Field(0.0, ge=0, le=1)
    max_train_crystals: int | None = Field(None, gt=0)  # a seeded subset, for quick runs
    # start from this stage's weights in a crystalflow model (a bundled name such as
    # "mp20", or a model.pt) or in a run's stage.pt; the model sizes must be the same
    finetune_from: str | None = None
    batch_size: int = Field(256, gt=0)  # crystals per optimiser step
    max_epochs: int = Field(200, gt=0)  # the run stops after this many epochs at most
    max_hours: float | None = Field(None, gt=0)  # wall-clock budget; the best epoch is kept
    learning_rate: float = Field(1e-3, gt=0)  # Adam's, at the start
    lr_factor: float = Field(0.6, gt=0, lt=1)  # ReduceLROnPlateau's factor
    lr_patience: int = Field(10, ge=0)  # epochs without holdout improvement before it cuts
    min_learning_rate: float = Field(1e-5, gt=0)  # the cuts stop here
    gradient_clip: float = Field(1.0, gt=0)  # largest gradient norm
    seed: int = 0  # weights, shuffling and noise
    accelerator: str = "auto"  # "cpu", "gpu", "auto"
    out_dir: str = "outputs/models/flow-run"  # the run folder (stage.pt, config.yaml, log/)
