"""Packing a trained run into a bundled model that ``Generator.from_pretrained`` loads.

python -m gendesign.model.cdvae.bundle NAME RUN_DIR [--note TEXT]

RUN_DIR is a ``gendesign train`` output folder (``model.pt``, ``config.yaml``,
``log/``). The bundle ``gendesign/model/pretrained/NAME/`` gets ``model.pt``
(weights only, no optimizer state), ``config.yaml``, the per-epoch loss log
compressed, and ``training_summary.md``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from gendesign.model.cdvae.model import CDVAE
from gendesign.model.cdvae.training import MODEL_FILE
from gendesign.model.common.bundled import BUNDLED
from gendesign.nn.bundle_folder import loss_curve, new_bundle_folder, run_history, write_history
from gendesign.nn.checkpoint import Checkpoint


def bundle(name: str, run: Path, destination: Path = BUNDLED.folder, note: str = "") -> Path:
    folder = new_bundle_folder(destination, name)
    checkpoint = Checkpoint.load(run / MODEL_FILE, (CDVAE,), "cdvae checkpoint")
    shutil.copyfile(run / MODEL_FILE, folder / MODEL_FILE)
    shutil.copyfile(run / "config.yaml", folder / "config.yaml")
    history = run_history(run)
    logged = write_history(history, folder / "log.csv.gz")
    curve = loss_curve(history) if logged else ""
    metrics = checkpoint.metrics
    epochs = metrics.get("epochs") or (int(history["epoch"].max()) + 1 if logged else "?")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("run", type=Path)
    parser.add_argument("--note", default="", help="a paragraph for the training summary")
    args = parser.parse_args()
    print(bundle(args.name, args.run, note=args.note))


if __name__ == "__main__":
    main()
