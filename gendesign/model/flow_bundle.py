"""Joining a chemistry run and a coordinates run into one bundled ``crystalflow`` model.

python -m gendesign.model.flow_bundle NAME CHEMISTRY_RUN COORDINATES_RUN [--note TEXT]

Each run folder is a ``gendesign train`` output of one stage (``stage.pt``,
``config.yaml``, ``log/``). The bundle ``gendesign/model/pretrained/NAME/`` gets
``model.pt``, both stage configs, both per-epoch logs compressed and
``training_summary.md``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from gendesign.data.datasets import get_dataset_spec
from gendesign.errors import InputError
from gendesign.model.crystal_flow import CrystalFlow
from gendesign.model.flow_config import FlowModelConfig, FlowSamplingConfig
from gendesign.model.flow_training import STAGE_FILE
from gendesign.model.generator import BUNDLED
from gendesign.model.templates import library_of_training, summary_section, template_note
from gendesign.nn.bundle import loss_curve, new_bundle_folder, run_history, write_history
from gendesign.nn.checkpoint import Checkpoint
from gendesign.torch_files import load_payload


def load_stage(run: Path, stage: str) -> dict:
    payload = load_payload(run / STAGE_FILE, f"{stage} stage file")
    if payload.get("format") != "gendesign-crystalflow-stage" or payload.get("stage") != stage:
        raise InputError(f"{run / STAGE_FILE}: not a crystalflow {stage} stage")
    return payload


def assemble(chemistry: dict, coordinates: dict) -> Checkpoint[CrystalFlow]:
    """One checkpoint from the two stage payloads (they must share a vocabulary)."""
    if chemistry["vocabulary"] != coordinates["vocabulary"]:
        raise InputError("the two stages were trained with different element vocabularies")
    config = FlowModelConfig(
        chemistry=chemistry["training_config"]["model"]["chemistry"],
        coordinates=coordinates["training_config"]["model"]["coordinates"],
    )
    model = CrystalFlow(
        config, chemistry["vocabulary"], chemistry["max_atoms"], chemistry["property_names"]
    )
    model.chemistry.load_state_dict(chemistry["state_dict"])
    model.coordinates.load_state_dict(coordinates["state_dict"])
    model.templates, without = library_of_training(coordinates["training_config"])
    spec = get_dataset_spec(chemistry["dataset"])
    return Checkpoint(
        model=model.eval(),
        dataset=spec.name,
        protocol=spec.protocol
        + ("+train-compositions" if chemistry["metrics"].get("positionless_crystals") else ""),
        dataset_hash=chemistry["dataset_hash"],
        units={name: spec.unit(name) for name in chemistry["property_names"]},
        training_config={
            "chemistry": chemistry["training_config"],
            "coordinates": coordinates["training_config"],
            # the sampler's defaults of this code (tuned after training; see BENCHMARKS.md)
            "sampling": FlowSamplingConfig().model_dump(),
        },
        metrics={
            "chemistry": chemistry["metrics"],
            "coordinates": coordinates["metrics"],
            "templates": template_note(model.templates, without),
        },  # fmt: skip
    )


def bundle(name: str, chemistry_run: Path, coordinates_run: Path,
           destination: Path = BUNDLED.folder, note: str = "") -> Path:  # fmt: skip
    stages = {"chemistry": chemistry_run, "coordinates": coordinates_run}
    payloads = {stage: load_stage(run, stage) for stage, run in stages.items()}
    checkpoint = assemble(payloads["chemistry"], payloads["coordinates"])
    folder = new_bundle_folder(destination, name)
    checkpoint.save(folder / "model.pt")
    lines = [f"# Bundled generative model `{name}` (crystalflow)\n"]
    parameters = {
        "chemistry": sum(p.numel() for p in checkpoint.model.chemistry.parameters()),
        "coordinates": sum(p.numel() for p in checkpoint.model.coordinates.parameters()),
    }
    lines.append(
        f"Dataset {checkpoint.dataset} ({checkpoint.protocol}, cache key {checkpoint.dataset_hash}); "
        f"steering properties: {', '.join(checkpoint.model.property_names) or 'none'}.\n"
    )
    for stage, run in stages.items():
        shutil.copyfile(run / "config.yaml", folder / f"{stage}_config.yaml")
        history = run_history(run)
        write_history(history, folder / f"{stage}_log.csv.gz")
        m = checkpoint.metrics[stage]
        crystals = m.get("train_crystals")
        lines.append(
            f"\n## {stage} stage\n\n{parameters[stage]:,} parameters; `{stage}_config.yaml`; "
            + (
                f"{m['epochs']} epochs"
                if "epochs" in m
                else f"weights from epoch {m.get('weights_epoch')}, the best holdout loss"
            )
            + f", {m.get('steps')} steps, "
            f"{(m.get('train_seconds') or 0) / 3600:.2f} h on {crystals} crystals"
            + (
                f" ({m['positionless_crystals']} of them without positions)"
                if m.get("positionless_crystals")
                else ""
            )
            + (
                f"; best holdout loss {m['best_val_loss']:.4f}"
                if m.get("best_val_loss") is not None
                else ""
            )
            + (" (interrupted; best weights kept)" if m.get("interrupted") else "")
            + f".\n\n{loss_curve(history) if not history.empty else ''}\n"
        )
    lines.append(f"\n{summary_section(checkpoint.metrics['templates'])}")
    if note:
        lines.append(f"\n{note}\n")
    (folder / "training_summary.md").write_text("".join(lines))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("chemistry", type=Path)
    parser.add_argument("coordinates", type=Path)
    parser.add_argument("--note", default="", help="a paragraph for the training summary")
    args = parser.parse_args()
    print(bundle(args.name, args.chemistry, args.coordinates, note=args.note))


if __name__ == "__main__":
    main()
