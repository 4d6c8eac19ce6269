"""Bundle an aligned model under a name, beside the base it came from.

    python -m gendesign.alignment.bundle outputs/alignment/mp20-aligned mp20 --keep-base mp20-base

The bundle folder gets the run's final ``model.pt`` and sampler settings, the base
bundle's stage configs and training logs (the aligned model is the base model
fine-tuned, so they still describe how it was trained), ``alignment.json`` (the run's
config and every iteration's provenance: parent, seed, reward, tuning, what it saw)
and an "Alignment" section in ``training_summary.md``. With ``--keep-base`` the base
bundle is first kept under that name, so the model before alignment stays loadable.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from gendesign.alignment.loop import CONFIG_FILE, PROVENANCE_FILE, iteration_folder
from gendesign.config import read_yaml_mapping
from gendesign.model.common.bundled import BUNDLED


def bundle_aligned(run: Path, name: str, keep_base: str | None = None) -> Path:
    """Make ``run``'s final model the bundled model ``name`` (see the module docstring)."""
    config = read_yaml_mapping(run / CONFIG_FILE)
    base = BUNDLED.folder / config["model"]
    target = BUNDLED.folder / name
    if keep_base and not (BUNDLED.folder / keep_base).exists():
        shutil.copytree(base, BUNDLED.folder / keep_base)
        base = BUNDLED.folder / keep_base
    if target.resolve() != base.resolve():
        target.mkdir(parents=True, exist_ok=True)
        for item in base.iterdir():
            if item.name != "model.pt":
                shutil.copy2(item, target / item.name)
    shutil.copy2(run / "model.pt", target / "model.pt")
    if (run / "sampling.yaml").is_file():
        shutil.copy2(run / "sampling.yaml", target / "sampling.yaml")
    iterations = [
        json.loads((iteration_folder(run, i) / PROVENANCE_FILE).read_text())
        for i in range(1, int(config["iterations"]) + 1)
    ]
    (target / "alignment.json").write_text(
        json.dumps({"config": config, "iterations": iterations}, indent=2) + "\n"
    )
    _summary(target / "training_summary.md", config, iterations, keep_base or config["model"])
    return target


def _summary(path: Path, config: dict, iterations: list[dict], base: str) -> None:
    reward, tuning = config["reward"], config["tuning"]
    lines = [
        "## Alignment\n\n",
        f"Fine-tuned from the bundled `{base}` model toward stability "
        f"(`gendesign align`, config in `alignment.json`): {len(iterations)} iterations of "
        f"{config['sample']['n']:,} unconditional samples each (seeds {config['seed']}–"
        f"{config['seed'] + len(iterations) - 1}); reward: {reward['potential']} E_hull on the "
        f"{reward['hull']} hull after {reward['steps']} FIRE steps; learned from samples at or "
        f"below {reward['e_hull_max']} eV/atom (weight exp(−E_hull/{reward['e_hull_scale']}), "
        f"at most 3 per formula), {tuning['steps']} steps of batch {tuning['batch_size']} at "
        f"learning rate {tuning['learning_rate']:g}, {tuning['replay_fraction']:.0%} of each "
        f"batch replayed from {tuning['replay_crystals']:,} training crystals.\n\n",
        "Each row: the samples of the model entering the iteration, and what it learned from them.\n\n",
        "| iteration | samples | stable by the reward | unique | P1 | W-#elements | learned from | minutes |\n",
        "|---|---|---|---|---|---|---|---|\n",
    ]
    for record in iterations:
        s = record["summary"]
        lines.append(
            f"| {s['iteration']} | {s['samples']:,} | {s['stable_share']:.1f} % | "
            f"{s['unique_share']:.1f} % | {s['p1_share']:.1f} % | {s['w_elements']:.3f} | "
            f"{s['finds']} | {s['seconds'] / 60:.1f} |\n"
        )
    text = path.read_text() if path.is_file() else ""
    if "## Alignment" in text:
        text = text[: text.index("## Alignment")].rstrip() + "\n\n"
    path.write_text(text.rstrip() + "\n\n" + "".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="an alignment run folder")
    parser.add_argument("name", help="the bundled name to give the aligned model")
    parser.add_argument("--keep-base", help="keep the base bundle under this name first")
    args = parser.parse_args(argv)
    print(bundle_aligned(args.run, args.name, args.keep_base))


if __name__ == "__main__":
    main()
