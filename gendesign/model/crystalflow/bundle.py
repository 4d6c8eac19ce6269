"""Joining a chemistry run and a coordinates run into one bundled ``crystalflow`` model.

python -m gendesign.model.crystalflow.bundle NAME CHEMISTRY_RUN COORDINATES_RUN [--note TEXT]
python -m gendesign.model.crystalflow.bundle --rebuild-templates MODEL_PT
python -m gendesign.model.crystalflow.bundle --replace-coordinates MODEL_PT COORDINATES_RUN [--note TEXT]

Each run folder is a ``gendesign train`` output of one stage (``stage.pt``,
``config.yaml``, ``log/``). The bundle ``gendesign/model/pretrained/NAME/`` gets
``model.pt``, both stage configs, both per-epoch logs compressed and
``training_summary.md``. The bundle's space-group templates
(:mod:`gendesign.model.crystalflow.spacegroup_templates`) come from the coordinate stage's training
crystals; ``--rebuild-templates`` rebuilds them in place in an existing bundle, and
``--replace-coordinates`` swaps an existing bundle's coordinate stage for a newer run.
"""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from pathlib import Path

from gendesign.data.datasets import get_dataset_spec
from gendesign.errors import InputError
from gendesign.model.common.bundled import BUNDLED
from gendesign.model.crystalflow.config import (
    FlowModelConfig,
    FlowSamplingConfig,
    FlowTrainingConfig,
)
from gendesign.model.crystalflow.model import CrystalFlow
from gendesign.model.crystalflow.spacegroup_templates import TemplateLibrary
from gendesign.model.crystalflow.training import STAGE_FILE, coordinate_training_crystals
from gendesign.nn.bundle_folder import loss_curve, new_bundle_folder, run_history, write_history
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
    model.templates, templates_note = library_of_training(coordinates["training_config"])
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
            "templates": templates_note,
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
    lines.append(
        f"Dataset {checkpoint.dataset} ({checkpoint.protocol}, cache key {checkpoint.dataset_hash}); "
        f"steering properties: {', '.join(checkpoint.model.property_names) or 'none'}.\n"
    )
    lines.extend(_copy_stage_run(checkpoint, stage, run, folder) for stage, run in stages.items())
    lines.append(f"\n{summary_section(checkpoint.metrics['templates'])}")
    if note:
        lines.append(f"\n{note}\n")
    (folder / "training_summary.md").write_text("".join(lines))
    return folder


def replace_stage(model_file: Path, stage: str, run: Path, note: str = "") -> str:
    """Swap one stage of a bundled crystalflow model for a newer run of that stage, in
    place (weights, training config and metrics in ``model.pt``; the stage's config,
    log and summary section in the bundle folder); the other stage stays as it was."""
    checkpoint = Checkpoint.load(model_file, [CrystalFlow], "crystalflow checkpoint")
    payload = load_stage(run, stage)
    if payload["vocabulary"] != checkpoint.model.atomic_numbers.tolist():
        raise InputError(f"{run}: its element vocabulary is not that of {model_file}")
    getattr(checkpoint.model, stage).load_state_dict(payload["state_dict"])
    checkpoint.training_config[stage] = payload["training_config"]
    checkpoint.metrics[stage] = payload["metrics"]
    checkpoint.save(model_file)
    folder = model_file.parent
    section = _copy_stage_run(checkpoint, stage, run, folder) + (f"\n{note}\n" if note else "")
    replace_section(folder / "training_summary.md", f"## {stage} stage", section)
    return f"{model_file}: {stage} stage replaced by {run}"


def replace_section(
    summary: Path, heading: str, section: str, paragraphs: int | None = None
) -> None:
    """Put ``section`` (starting with its ``heading`` line) in place of that heading's
    section of a markdown summary: up to the next ``## `` heading, or only its first
    ``paragraphs`` paragraphs; append it if the heading is absent."""
    text = summary.read_text() if summary.is_file() else ""
    before, found, after = text.partition(heading + "\n")
    if not found:
        parts = [text, section]
    else:
        blocks = after.strip("\n").split("\n\n")
        if paragraphs is None:  # keep from the next heading on
            paragraphs = next((i for i, b in enumerate(blocks) if b.startswith("## ")), len(blocks))
        kept = blocks[paragraphs:]
        parts = [before, section, "\n\n".join(kept)]
    summary.write_text("\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n")


def _copy_stage_run(
    checkpoint: Checkpoint[CrystalFlow], stage: str, run: Path, folder: Path
) -> str:
    """Copy a stage run's config and per-epoch log into the bundle folder; the stage's
    training-summary section."""
    shutil.copyfile(run / "config.yaml", folder / f"{stage}_config.yaml")
    history = run_history(run)
    write_history(history, folder / f"{stage}_log.csv.gz")
    parameters = sum(p.numel() for p in getattr(checkpoint.model, stage).parameters())
    m = checkpoint.metrics[stage]
    crystals = m.get("train_crystals")
    return (
        f"\n## {stage} stage\n\n{parameters:,} parameters; `{stage}_config.yaml`; "
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


# ---------------------------------------------------------------------- space-group templates
SUMMARY_HEADING = "## Space-group templates"


def library_of_training(coordinates_config: dict) -> tuple[TemplateLibrary, dict]:
    """The templates of the crystals a coordinates run learned from (its training
    config as saved), and the checkpoint's record of them (:func:`template_note`)."""
    config = FlowTrainingConfig.model_validate(coordinates_config)
    crystals = coordinate_training_crystals(config).to_crystal_set()
    library, without = TemplateLibrary.from_structures(crystals)
    return library, template_note(library, without)


def rebuild_templates(model_file: Path) -> str:
    """Rebuild a crystalflow checkpoint's template library from its coordinate
    stage's training crystals, in place (and its bundle summary's paragraph)."""
    checkpoint = Checkpoint.load(model_file, [CrystalFlow], "crystalflow checkpoint")
    checkpoint.model.templates, checkpoint.metrics["templates"] = library_of_training(
        checkpoint.training_config["coordinates"]
    )
    checkpoint.save(model_file)
    summary = model_file.parent / "training_summary.md"
    if summary.is_file():
        replace_section(
            summary, SUMMARY_HEADING, summary_section(checkpoint.metrics["templates"]), 1
        )
    return f"{model_file}: {describe_templates(checkpoint.metrics['templates'])}"


def template_note(library: TemplateLibrary, without: int) -> dict:
    """What a checkpoint records of its template library."""
    groups: Counter[int] = Counter()
    for template, weight in zip(library.templates, library.weights.tolist(), strict=True):
        groups[template.space_group] += int(weight)
    return {"templates": len(library), "crystals": library.crystals,
            "crystals_without": without, "p1_share": groups[1] / max(1, library.crystals)}  # fmt: skip


def describe_templates(note: dict) -> str:
    return (
        f"{note['templates']:,} space-group templates from {note['crystals']:,} training "
        f"crystals ({note['p1_share']:.1%} P1; {note['crystals_without']} gave none)"
    )


def summary_section(note: dict) -> str:
    """The bundle summary's paragraph on the template library."""
    return (
        f"{SUMMARY_HEADING}\n\n{describe_templates(note)}, from the coordinate stage's "
        "training crystals (`python -m gendesign.model.crystalflow.bundle --rebuild-templates`).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?")
    parser.add_argument("chemistry", type=Path, nargs="?")
    parser.add_argument("coordinates", type=Path, nargs="?")
    parser.add_argument("--note", default="", help="a paragraph for the training summary")
    parser.add_argument(
        "--rebuild-templates",
        type=Path,
        metavar="MODEL_PT",
        help="rebuild an existing bundle's template library in place",
    )
    parser.add_argument("--replace-coordinates", type=Path, nargs=2, metavar=("MODEL_PT", "RUN"),
                        help="swap an existing bundle's coordinate stage for RUN's, in place")  # fmt: skip
    args = parser.parse_args()
    if args.rebuild_templates:
        print(rebuild_templates(args.rebuild_templates))
    elif args.replace_coordinates:
        model_file, run = args.replace_coordinates
        print(replace_stage(model_file, "coordinates", run, note=args.note))
    elif args.coordinates is None:
        parser.error("give NAME CHEMISTRY_RUN COORDINATES_RUN, or --rebuild-templates MODEL_PT")
    else:
        print(bundle(args.name, args.chemistry, args.coordinates, note=args.note))


if __name__ == "__main__":
    main()
