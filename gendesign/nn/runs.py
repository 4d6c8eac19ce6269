"""The one Lightning training run of every model family: resumable checkpoints, the
best holdout epoch kept, optional early stopping, the wall-clock budget, fixed
holdout noise, Ctrl-C handling, recovery of a killed run, and the run's summary.

Every family's checkpoint ``metrics`` carry the same keys (:data:`RUN_METRICS`):
``epochs`` (epochs run; None for a recovered run), ``steps``, ``train_seconds``,
``train_crystals``, ``interrupted``, ``best_val_loss`` (None when unknown),
``weights_epoch`` (0-based epoch of the kept weights; None when unknown) and,
for a recovered run, ``recovered_from`` (the Lightning checkpoint's name).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint, Timer
from pytorch_lightning.loggers import CSVLogger

from gendesign.errors import InputError
from gendesign.notices import quiet_third_party

LIGHTNING_FOLDER = "lightning"  # of a run folder: last.ckpt and the best epoch

log = logging.getLogger(__name__)


class _WithoutAdvertisements(logging.Filter):
    """Drops Lightning's "💡 Tip: ... litlogger" line, printed at the start of every fit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_WithoutAdvertisements())
# Lightning's own use of torch's pytree API warns on every fit; nothing for our users to change.
quiet_third_party()


def run_timer(max_hours: float | None) -> Timer:
    """The Timer callback that measures a run and, given ``max_hours``, ends it: Lightning
    ignores ``Trainer(max_time=...)`` once a Timer callback is present."""
    return Timer(duration={"hours": max_hours} if max_hours else None)


def fit_interruptibly(trainer: pl.Trainer, module: pl.LightningModule, *loaders, **options) -> bool:
    """``trainer.fit``; True if it was interrupted (Ctrl-C), so the caller can still save
    the best weights so far."""
    try:
        trainer.fit(module, *loaders, **options)
    except (KeyboardInterrupt, SystemExit):  # Lightning turns Ctrl-C into SystemExit
        log.warning(
            "training interrupted at epoch %d; keeping the best weights so far",
            trainer.current_epoch,
        )
        return True
    return False


RUN_METRICS = ("epochs", "steps", "train_seconds", "train_crystals", "interrupted",
               "best_val_loss", "weights_epoch")  # fmt: skip


def run_progress(trainer: pl.Trainer, timer: Timer, train_crystals: int, interrupted: bool) -> dict:
    """How far a run got, for the checkpoint's metrics (the best epoch is added by the caller)."""
    return {
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "train_seconds": round(timer.time_elapsed("train"), 1),
        "train_crystals": train_crystals,
        "interrupted": interrupted,
        "best_val_loss": None,
        "weights_epoch": None,
    }


def saved_checkpoint(run_dir: Path, use_last: bool = False) -> Path:
    """The Lightning checkpoint a killed run left: its best epoch's (default) or, with
    ``use_last`` (or when no best epoch was saved), ``last.ckpt``; one sentence if none."""
    folder = Path(run_dir) / LIGHTNING_FOLDER
    saved = [] if use_last else sorted(folder.glob("epoch=*.ckpt"))
    saved = saved or sorted(folder.glob("last.ckpt"))
    if not (Path(run_dir) / "config.yaml").is_file() or not saved:
        raise InputError(
            f"{run_dir}: not a training run with a saved checkpoint (config.yaml, lightning/*.ckpt)"
        )
    return saved[-1]


def recovered_progress(saved: Path, train_crystals: int) -> dict:
    """The checkpoint metrics of a run recovered from the Lightning checkpoint ``saved``."""
    state = torch.load(saved, map_location="cpu", weights_only=True)
    timer = state.get("callbacks", {}).get("Timer", {}).get("time_elapsed", {})
    return {
        "epochs": None,  # unknown: the run did not finish
        "steps": state["global_step"],
        "train_seconds": round(timer.get("train", 0.0), 1),
        "train_crystals": train_crystals,
        "interrupted": True,
        "best_val_loss": None,
        "weights_epoch": state["epoch"],
        "recovered_from": saved.name,
    }


def last_checkpoint(out: Path, resume: bool) -> Path:
    """The run's ``last.ckpt``; with ``resume`` it must exist (one sentence if not)."""
    last = Path(out) / LIGHTNING_FOLDER / "last.ckpt"
    if resume and not last.is_file():
        raise InputError(f"{last}: no checkpoint to resume from")
    return last


@dataclass
class FitOutcome:
    best_checkpoint: str  # path of the best holdout epoch's checkpoint; "" if none finished
    metrics: dict  # run_progress(...) plus best_val_loss


def fit_resumable(
    module: pl.LightningModule,
    train_loader,
    holdout_loader,
    out: Path,
    *,
    train_crystals: int,
    max_epochs: int,
    max_hours: float | None,
    gradient_clip: float,
    accelerator: str,
    resume: bool,
    max_steps: int = -1,
    patience: int | None = None,
    deterministic: bool = False,
    log_every_n_steps: int = 50,
) -> FitOutcome:
    """Fit with ``last.ckpt`` after every epoch (``resume`` continues from it), the best
    holdout epoch kept, a CSV log in ``out/log`` and ``max_hours`` as a wall-clock budget;
    with ``patience``, stop after that many epochs without a better holdout loss."""
    last = last_checkpoint(out, resume)
    best = ModelCheckpoint(dirpath=out / LIGHTNING_FOLDER, monitor="val_loss", save_top_k=1)
    # last.ckpt after every epoch (Lightning's save_last only follows a new best)
    latest = ModelCheckpoint(
        dirpath=out / LIGHTNING_FOLDER, filename="last", save_top_k=1, enable_version_counter=False
    )
    timer = run_timer(max_hours)
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        max_steps=max_steps,
        gradient_clip_val=gradient_clip,
        accelerator=accelerator,
        devices=1,
        callbacks=[best, latest, timer]
        + ([EarlyStopping(monitor="val_loss", patience=patience)] if patience else []),
        logger=CSVLogger(out, name="log"),
        deterministic=deterministic,
        enable_model_summary=False,
        log_every_n_steps=max(1, min(log_every_n_steps, len(train_loader))),
    )
    interrupted = fit_interruptibly(
        trainer,
        module,
        train_loader,
        holdout_loader,
        ckpt_path=str(last) if resume else None,
        weights_only=True,  # a run folder from elsewhere must not run code when resumed
    )
    metrics = run_progress(trainer, timer, train_crystals, interrupted)
    score = best.best_model_score
    metrics["best_val_loss"] = float(score) if score is not None else None
    if best.best_model_path:  # Lightning names it epoch=<k>-step=<n>.ckpt
        metrics["weights_epoch"] = int(Path(best.best_model_path).name.split("-")[0][6:])
    return FitOutcome(best.best_model_path, metrics)


def with_fixed_noise(module: pl.LightningModule, seed: int, step: Callable[[], object]):
    """``step()`` with torch's random state seeded by ``seed`` and restored afterwards, so
    holdout losses use the same noise every epoch and compare across epochs."""
    devices = [module.device.index or 0] if module.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return step()


def log_losses(module: pl.LightningModule, stage: str, loss, losses: dict, batch_size: int) -> None:
    """Log the total as ``<stage>_loss`` (shown in the progress bar) and each part as
    ``<stage>_<name>``, averaged per epoch."""
    module.log(
        f"{stage}_loss", loss, batch_size=batch_size, prog_bar=True, on_epoch=True, on_step=False
    )
    for name, value in losses.items():
        module.log(f"{stage}_{name}", value, batch_size=batch_size, on_epoch=True, on_step=False)
