"""Packing a trained run into a bundled model that ``Generator.from_pretrained`` loads.

python -m gendesign.model.bundle NAME RUN_DIR [--note TEXT]

RUN_DIR is a ``gendesign train`` output folder (``model.pt``, ``config.yaml``,
``log/``). The bundle ``gendesign/model/pretrained/NAME/`` gets ``model.pt``
(weights only, no optimizer state), ``config.yaml``, the per-epoch loss log
compressed, and ``training_summary.md``.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

import pandas as pd

from gendesign.model.generator import BUNDLED, load_generator_checkpoint
from gendesign.model.training import MODEL_FILE


def bundle(name: str, run: Path, destination: Path = BUNDLED.folder, note: str = "") -> Path:
    folder = destination / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    checkpoint = load_generator_checkpoint(run / MODEL_FILE)
    shutil.copyfile(run / MODEL_FILE, folder / MODEL_FILE)
    shutil.copyfile(run / "config.yaml", folder / "config.yaml")
    # a resumed run logs into a new version folder: join them in order
    logs = sorted((run / "log").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    curve, history = "", pd.DataFrame()
    if logs:
        history = join_resumed_logs([pd.read_csv(path) for path in logs])
        with gzip.open(folder / "log.csv.gz", "wt") as out:
            history.to_csv(out, index=False)
        curve = loss_curve(history)
    metrics = checkpoint.metrics
    epochs = metrics.get("epochs") or (int(history["epoch"].max()) + 1 if logs else "?")
    best = metrics.get("best_val_loss")
    parameters = sum(p.numel() for p in checkpoint.model.parameters())
    if best is not None:
        ending = f"best holdout loss {best:.4f}"
    elif metrics.get("recovered_from", "").startswith("epoch="):
        ending = f"weights from epoch {metrics['weights_epoch']}, the lowest holdout loss"
    else:
        ending = f"weights from the last epoch ({metrics.get('weights_epoch')})"
    interrupted = " (interrupted; best weights kept)" if metrics.get("interrupted") else ""
    (folder / "training_summary.md").write_text(
        f"# Bundled generative model `{name}`\n\n"
        f"Dataset {checkpoint.dataset} ({checkpoint.protocol}, cache key {checkpoint.dataset_hash}); "
        f"{parameters:,} parameters; steering heads: {', '.join(checkpoint.model.property_names) or 'none'}.\n"
        f"Trained with `gendesign train --config configs/model/{name}.yaml` (`config.yaml` here): "
        f"{epochs} epochs, {metrics.get('steps')} steps, "
        f"{(metrics.get('train_seconds') or 0) / 3600:.2f} h on {metrics.get('train_crystals')} crystals"
        f"{interrupted}; {ending}.\n\n"
        f"Per-epoch losses: `log.csv.gz`.\n\n{curve}\n" + (f"\n{note}\n" if note else "")
    )
    return folder


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("run", type=Path)
    parser.add_argument("--note", default="", help="a paragraph for the training summary")
    args = parser.parse_args()
    print(bundle(args.name, args.run, note=args.note))


if __name__ == "__main__":
    main()
