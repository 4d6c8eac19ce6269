"""What every Lightning training run in gendesign shares: Ctrl-C handling and its summary."""

from __future__ import annotations

import logging
import warnings

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Timer

log = logging.getLogger(__name__)


class _WithoutAdvertisements(logging.Filter):
    """Drops Lightning's "💡 Tip: ... litlogger" line, printed at the start of every fit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_WithoutAdvertisements())
# Lightning's own use of torch's pytree API warns on every fit; nothing for our users to change.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


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


def run_progress(trainer: pl.Trainer, timer: Timer, train_crystals: int, interrupted: bool) -> dict:
    """How far a run got, for the checkpoint's metrics."""
    return {
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "train_seconds": round(timer.time_elapsed("train"), 1),
        "train_crystals": train_crystals,
        "interrupted": interrupted,
    }
