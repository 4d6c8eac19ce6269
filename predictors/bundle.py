"""Packing trained runs into a bundled ensemble that ``Predictor.pretrained`` loads.

python -m predictors.bundle NAME RUN_DIR [RUN_DIR ...]

Each RUN_DIR is a ``gendesign predictor train`` output folder (``predictor.pt``,
``config.yaml``, ``log/``). The bundle ``predictors/pretrained/NAME/`` gets the
checkpoints as ``member<k>.pt`` (optimizer state is never in them), the first
run's config, and ``training_summary.md``: per member, its seed, epochs, training
time and holdout errors, plus each run's per-epoch CSV log compressed beside it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from gendesign.nn.bundle_folder import new_bundle_folder, run_history, write_history
from predictors.inference import PRETRAINED_DIR
from predictors.model import load_predictor_checkpoint
from predictors.training import CHECKPOINT_NAME


def bundle(
    name: str,
    runs: list[Path],
    destination: Path = PRETRAINED_DIR,
    config: Path | None = None,
    note: str = "",
) -> Path:
    """Copy ``runs`` into ``destination/name`` and write their training summary.

    ``config``: the training config to ship (default: the last run's); ``note``: a
    paragraph for the summary (e.g. how a member's run ended)."""
    folder = new_bundle_folder(destination, name)
    rows = []
    for k, run in enumerate(runs):
        checkpoint = load_predictor_checkpoint(run / CHECKPOINT_NAME)
        shutil.copyfile(run / CHECKPOINT_NAME, folder / f"member{k}.pt")
        write_history(run_history(run), folder / f"member{k}_log.csv.gz")
        metrics = checkpoint.metrics
        holdout = ", ".join(
            f"{t} {metrics['holdout'].get(f'val_mae_{t}', float('nan')):.4f} {u}"
            for t, u in zip(checkpoint.model.targets, checkpoint.model.units, strict=True)
        )
        seconds = metrics.get("train_seconds")
        epochs = metrics.get("epochs")
        ran = f"{epochs}" if epochs is not None else "stopped (see below)"
        rows.append(
            f"| {k} | {checkpoint.training_config['seed']} | {ran} | {best_epoch(run)} | "
            f"{f'{seconds / 60:.1f}' if seconds else '–'} | {holdout} |"
        )
    shutil.copyfile(config or runs[-1] / "config.yaml", folder / "config.yaml")
    first = load_predictor_checkpoint(runs[0] / CHECKPOINT_NAME)
    (folder / "training_summary.md").write_text(
        f"# Bundled predictor `{name}`\n\n"
        f"Dataset {first.dataset} ({first.protocol}), targets {', '.join(first.model.targets)}; "
        f"{len(runs)} members trained with `config.yaml`, differing only in their seed "
        f"(`gendesign predictor train --config configs/predictor/{name}.yaml --set seed=K`). "
        "Early stopping on the holdout; holdout MAE of the kept weights below. "
        "Per-epoch logs: `member<k>_log.csv.gz`.\n\n"
        "| member | seed | epochs run | best epoch | minutes | holdout MAE |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
        + (f"\n{note}\n" if note else "")
    )
    return folder


def best_epoch(run: Path) -> int | str:
    """Epoch (0-based) of the kept weights, from the Lightning checkpoint's file name."""
    saved = sorted((run / "lightning").glob("epoch=*.ckpt"))
    return int(saved[-1].name.split("-")[0].removeprefix("epoch=")) if saved else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, help="training config to ship")
    parser.add_argument("--note", default="", help="a paragraph for the training summary")
    args = parser.parse_args()
    print(bundle(args.name, args.runs, config=args.config, note=args.note))


if __name__ == "__main__":
    main()
