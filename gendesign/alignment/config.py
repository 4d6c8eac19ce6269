"""What an alignment run does, as one typed YAML file (``configs/alignment/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from gendesign.config import StrictConfig
from gendesign.ranges import OPEN, Range


class SampleSection(StrictConfig):
    """What each iteration draws from the current model."""

    n: int = Field(1000, ge=1)  # samples per iteration
    elements: list[str] = Field(default_factory=list)  # every one present (``--elements``)
    atoms: Range = OPEN  # atoms per cell


class RewardSection(StrictConfig):
    """How a sample is scored: a short relaxation by ``potential``, then its energy above
    the ``hull`` (eV/atom) through the potential's fitted element references."""

    potential: str = "chgnet-0.3.0"  # the reward judge; evaluate with another one
    potential_path: str | None = None  # the potential's weights, when not found by name
    steps: int = Field(10, ge=0)  # FIRE steps (0: a single point on the sample as drawn)
    fmax: float = Field(0.05, gt=0)  # eV/Å: a structure below it stops early
    hull: Literal["full", "mp20"] = "full"  # the reward's reference hull
    e_hull_max: float = Field(0.1, ge=0)  # eV/atom: samples at or below it are learned from
    e_hull_scale: float = Field(0.05, gt=0)  # eV/atom: a sample weighs exp(-max(E_hull, 0)/scale)


class TuningSection(StrictConfig):
    """The fine-tuning of both stages on an iteration's rewarded samples."""

    steps: int = Field(400, ge=0)  # optimiser steps per iteration
    batch_size: int = Field(32, ge=1)  # crystals per step (drawn by weight, with repeats)
    learning_rate: float = Field(1e-4, gt=0)  # Adam's
    # Share of each batch drawn from the model's own training crystals, so the model
    # keeps the chemistry it knew (diversity) while it moves toward its stable samples.
    replay_fraction: float = Field(0.5, ge=0, lt=1)
    replay_crystals: int = Field(4000, ge=0)  # how many training crystals take part


class AlignmentConfig(StrictConfig):
    """One alignment run: ``iterations`` × (sample → reward → fine-tune)."""

    name: str = "aligned"  # the run's name: its folder is outputs/alignment/<name>
    model: str = "mp20"  # the base: a bundled name or a model.pt path (crystalflow)
    iterations: int = Field(4, ge=1)  # sample → reward → fine-tune rounds
    seed: int = 0  # iteration i (from 1) samples and fine-tunes with seed + i - 1
    data_root: str | None = (
        None  # mirror folder or URL; None: GENDESIGN_DATA, ../shared/data, else fetched
    )
    out_dir: Path | None = None  # the run's folder (default outputs/alignment/<name>)
    sample: SampleSection = Field(default_factory=SampleSection)  # what each iteration draws
    reward: RewardSection = Field(default_factory=RewardSection)  # how a sample is scored
    tuning: TuningSection = Field(default_factory=TuningSection)  # how the model learns

    @property
    def folder(self) -> Path:
        return self.out_dir or Path("outputs") / "alignment" / self.name
