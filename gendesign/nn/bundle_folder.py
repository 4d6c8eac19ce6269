"""What every bundler shares: the bundle's folder, a run's per-epoch history and its
loss curve.

A bundle is a folder ``<family>/pretrained/<name>/`` that :mod:`gendesign.nn.pretrained`
finds by name: the checkpoint file(s) (weights only, no optimizer state), the
training config(s), the per-epoch log(s) compressed and ``training_summary.md``.
Each family's bundler (``gendesign.model.cdvae.bundle``, ``gendesign.model.crystalflow.bundle``,
``predictors.bundle``) decides what goes in; the steps are these.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd


def new_bundle_folder(destination: Path, name: str) -> Path:
    """An empty ``destination/name`` (a bundle of that name is replaced)."""
    folder = Path(destination) / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def run_history(run: Path) -> pd.DataFrame:
    """The per-epoch log of a training run folder (``log/version_*/metrics.csv``), its
    resumptions joined in order; empty when it logged nothing."""
    logs = sorted(
        (Path(run) / "log").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:])
    )
    return join_resumed_logs([pd.read_csv(path) for path in logs]) if logs else pd.DataFrame()


def write_history(history: pd.DataFrame, path: Path) -> bool:
    """``history`` as a gzipped CSV at ``path``; False (nothing written) when it is empty."""
    if history.empty:
        return False
    with gzip.open(path, "wt") as out:
        history.to_csv(out, index=False)
    return True


def join_resumed_logs(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One history from the logs of a run and its resumptions: where a resumption
    restarted at an earlier epoch, its rows replace the ones it re-ran."""
    history = pd.DataFrame()
    for part in parts:
        if part.empty or "epoch" not in part:
            continue
        if not history.empty:
            history = history[history["epoch"] < part["epoch"].min()]
        history = pd.concat([history, part], ignore_index=True)
    return history


def loss_curve(log: pd.DataFrame, rows: int = 12) -> str:
    """A Markdown table of the per-epoch losses at ``rows`` evenly spaced epochs."""
    columns = [
        c for c in ("train_loss", "val_loss", "val_coord", "val_type", "val_lattice") if c in log
    ]
    per_epoch = log.groupby("epoch")[columns].mean().dropna(how="all")
    if per_epoch.empty:
        return ""
    picks = sorted(set(per_epoch.index[:: max(1, len(per_epoch) // rows)]) | {per_epoch.index[-1]})
    header = "| epoch | " + " | ".join(columns) + " |\n|" + "---|" * (len(columns) + 1) + "\n"
    return header + "\n".join(
        f"| {epoch} | " + " | ".join(f"{per_epoch.loc[epoch, c]:.4f}" for c in columns) + " |"
        for epoch in picks
    )
