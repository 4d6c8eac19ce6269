"""The alignment loop: sample → reward → fine-tune, iteration after iteration, resumable.

Iteration i (1-based) draws ``sample.n`` crystals from the model of iteration i − 1
(the base model for i = 1) with seed ``seed + i - 1``, scores each by a short
relaxation with the reward potential (:mod:`gendesign.alignment.reward`), and
fine-tunes both stages (:func:`gendesign.model.crystalflow.finetune.fine_tune`) on

- its samples at or below ``reward.e_hull_max``, relaxed as the reward left them,
  each weighted ``exp(-max(E_hull, 0) / e_hull_scale)`` and at most
  ``max_per_formula`` per reduced formula (so a few easy compounds cannot take over),
- and a replay of the base model's own training crystals, ``replay_fraction`` of
  every batch, which keeps the chemistry the model knew.

Everything an iteration computes is kept in ``<folder>/iteration-<i>/`` as it is
made: ``samples.json`` (written whole), ``reward/`` (one row per relaxation, as it
finishes), then ``model.pt`` and ``provenance.json``. A killed run resumes where it
stopped and gives the same models: sampling and fine-tuning are deterministic per
seed (relaxations that share a batch differently agree to round-off). Each iteration also records what would show a collapse: the unique share of
its valid samples, their P1 share and space groups, and the distance of their
element-count distribution from the training crystals'.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from gendesign.alignment.config import AlignmentConfig
from gendesign.alignment.reward import REWARD_COLUMN, score
from gendesign.alignment.tuning import Find, replay_crystals, stability_weight, tune_on_finds
from gendesign.config import read_yaml_mapping
from gendesign.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_FILE = "alignment.yaml"
PROVENANCE_FILE = "provenance.json"
SAMPLES_FILE = "samples.json"
MAX_PER_FORMULA = 3
# a batch's stop rule and layout do not change what a run computes, so --resume may change them
RESUMABLE_CHANGES = ("iterations", "out_dir", "data_root")


@dataclass(frozen=True)
class IterationSummary:
    """What one iteration saw and did (shares in %, energies in eV/atom)."""

    iteration: int
    samples: int
    valid: int
    scored: int
    stable_share: float  # reward E_hull ≤ e_hull_max, of the scored
    median_e_hull: float
    unique_share: float  # of the valid
    p1_share: float  # of the valid, spglib at 0.1 Å
    space_groups: int  # distinct, of the valid
    w_elements: float  # Wasserstein distance of #elements from the training crystals
    finds: int  # samples learned from
    distinct_find_formulas: int
    seconds: float


def iteration_folder(folder: Path, iteration: int) -> Path:
    return folder / f"iteration-{iteration}"


def align(config: AlignmentConfig, resume: bool = False) -> list[IterationSummary]:
    """Run (or continue, with ``resume``) the alignment of ``config``; returns every
    iteration's summary. The final model is ``<folder>/model.pt``."""
    folder = config.folder
    _claim(folder, config, resume)
    summaries = []
    for iteration in range(1, config.iterations + 1):
        summaries.append(run_iteration(config, iteration))
    last = iteration_folder(folder, config.iterations)
    for name in ("model.pt", "sampling.yaml"):
        if (last / name).is_file():
            _copy_whole(last / name, folder / name)
    (folder / "summary.json").write_text(
        json.dumps([asdict(s) for s in summaries], indent=2) + "\n"
    )
    return summaries


def _claim(folder: Path, config: AlignmentConfig, resume: bool) -> None:
    """Write the config into a new folder, or check a resumed run's config against it."""
    stored_path = folder / CONFIG_FILE
    wanted = config.model_dump(mode="json")
    if stored_path.is_file():
        if not resume:
            raise ConfigError(
                f"{folder} already holds an alignment run: add --resume to continue it, "
                "or choose another --out"
            )
        stored = read_yaml_mapping(stored_path)
        changed = sorted(
            key for key in set(stored) | set(wanted)
            if key not in RESUMABLE_CHANGES and stored.get(key) != wanted.get(key)
        )  # fmt: skip
        if changed:
            raise ConfigError(
                f"{stored_path}: the run was started with other settings for "
                f"{', '.join(changed)}; only {', '.join(RESUMABLE_CHANGES)} may change on --resume"
            )
    folder.mkdir(parents=True, exist_ok=True)
    import yaml

    stored_path.write_text(yaml.safe_dump(wanted, sort_keys=False))


def parent_model(config: AlignmentConfig, iteration: int) -> str:
    """The model iteration ``iteration`` samples from."""
    if iteration == 1:
        return config.model
    return str(iteration_folder(config.folder, iteration - 1) / "model.pt")


def run_iteration(config: AlignmentConfig, iteration: int) -> IterationSummary:
    """One iteration (see the module docstring); an iteration already done is read back."""
    from gendesign.model.generator import Generator

    here = iteration_folder(config.folder, iteration)
    provenance_path = here / PROVENANCE_FILE
    if (here / "model.pt").is_file() and provenance_path.is_file():
        return IterationSummary(**json.loads(provenance_path.read_text())["summary"])
    started = time.perf_counter()
    here.mkdir(parents=True, exist_ok=True)
    parent_name = parent_model(config, iteration)
    parent = Generator.load(parent_name)
    if not parent.is_flow:
        raise ConfigError(
            f"alignment model '{config.model}': only crystalflow models can be aligned"
        )
    seed = config.seed + iteration - 1
    samples = _samples(config, parent, here, seed)
    ids = [f"i{iteration}-{k:05d}" for k in range(len(samples))]
    log.info(
        "iteration %d: scoring %d samples (%s, %d FIRE steps)",
        iteration, len(samples), config.reward.potential, config.reward.steps,
    )  # fmt: skip
    table = score(ids, samples, config.reward, here / "reward", config.data_root)
    rewards = table[REWARD_COLUMN].to_numpy(float)
    relaxed = _relaxed(here / "reward", ids, samples)
    finds = _finds(relaxed, rewards, table, config)
    audit_figures = _diversity(samples, config)

    model = copy.deepcopy(parent.model)
    fine_tuning = None
    if finds and config.tuning.steps:
        replay = _replay(config) if config.tuning.replay_crystals else []
        fine_tuning = asdict(tune_on_finds(model, finds, config.tuning, replay, seed))
    scored = np.isfinite(rewards)
    summary = IterationSummary(
        iteration=iteration,
        samples=len(samples),
        scored=int(scored.sum()),
        stable_share=100 * float((rewards[scored] <= config.reward.e_hull_max).mean())
        if scored.any() else math.nan,
        median_e_hull=float(np.median(rewards[scored])) if scored.any() else math.nan,
        finds=len(finds),
        distinct_find_formulas=len({f.structure.composition.reduced_formula for f in finds}),
        seconds=round(time.perf_counter() - started, 1),
        **audit_figures,
    )  # fmt: skip
    provenance = {
        "iteration": iteration,
        "parent": parent_name,
        "base_model": config.model,
        "seed": seed,
        "reward": config.reward.model_dump(mode="json"),
        "tuning": config.tuning.model_dump(mode="json"),
        "fine_tuning": fine_tuning,
        "summary": asdict(summary),
    }
    previous = parent.checkpoint.training_config.get("alignment", [])
    parent.save_tuned(model, here / "model.pt", {"alignment": [*previous, provenance]})
    _write_whole(provenance_path, json.dumps(provenance, indent=2) + "\n")
    log.info(
        "iteration %d: %d samples, %.1f %% stable by the reward, %d finds, %.0f s",
        iteration, summary.samples, summary.stable_share, summary.finds, summary.seconds,
    )  # fmt: skip
    return summary


def _samples(config, generator, here: Path, seed: int) -> list[Structure]:
    """The iteration's samples: read back when kept, else drawn and kept (whole)."""
    from gendesign.model.common.constraints import Constraints

    path = here / SAMPLES_FILE
    if path.is_file():
        return [Structure.from_dict(d) for d in json.loads(path.read_text())]
    constraints = Constraints(elements=config.sample.elements, atoms=config.sample.atoms)
    log.info("sampling %d crystals (seed %d)", config.sample.n, seed)
    structures = generator.sample(config.sample.n, seed=seed, constraints=constraints)
    _write_whole(path, json.dumps([s.as_dict() for s in structures]))
    return structures


def _relaxed(folder: Path, ids: list[str], samples: list[Structure]) -> list[Structure | None]:
    """Each sample as the reward's relaxation left it (None when it has no relaxed file)."""
    from relax.runner import RELAXED_FOLDER, safe_name

    found = []
    with warnings.catch_warnings():  # "fractional coordinates rounded": CIF round-off, harmless
        warnings.simplefilter("ignore")
        for item_id in ids:
            path = folder / RELAXED_FOLDER / f"{safe_name(item_id)}.cif"
            found.append(Structure.from_file(path) if path.is_file() else None)
    return found


def _finds(relaxed, rewards, table, config: AlignmentConfig) -> list[Find]:
    """The samples learned from, relaxed, the best ``MAX_PER_FORMULA`` per reduced formula,
    each with the reward judge's formation energy as its label."""
    e_form = table["e_form_eV_atom"].to_numpy(float)
    ranked = sorted(
        (k for k in range(len(rewards)) if relaxed[k] is not None), key=lambda k: rewards[k]
    )
    per_formula: Counter = Counter()
    finds = []
    reward = config.reward
    for k in ranked:
        weight = stability_weight(float(rewards[k]), reward.e_hull_max, reward.e_hull_scale)
        formula = relaxed[k].composition.reduced_formula
        if weight <= 0 or per_formula[formula] >= MAX_PER_FORMULA:
            continue
        per_formula[formula] += 1
        finds.append(Find(relaxed[k], weight, {"formation_energy_per_atom": float(e_form[k])}))
    return finds


def _diversity(samples: list[Structure], config: AlignmentConfig) -> dict:
    """Collapse watch: valid, unique and P1 shares, space groups and W-#elements."""
    from scipy.stats import wasserstein_distance

    from gendesign.audit.runner import audit

    table = audit(samples, reference=None, coverage="off").table
    valid = table[table["valid"].fillna(False).astype(bool)]
    groups = valid["spacegroup_0.1"].dropna().astype(int)
    elements = [
        len(s.composition.elements) for s, ok in zip(samples, table["valid"], strict=True) if ok
    ]
    training = [len(f.structure.composition.elements) for f in _replay(config)]
    return {
        "valid": int(len(valid)),
        "unique_share": 100 * float(valid["unique"].fillna(False).astype(bool).mean())
        if len(valid) else math.nan,
        "p1_share": 100 * float((groups == 1).mean()) if len(groups) else math.nan,
        "space_groups": int(groups.nunique()),
        "w_elements": float(wasserstein_distance(elements, training)) if elements else math.nan,
    }  # fmt: skip


def _replay(config: AlignmentConfig) -> list[Find]:
    tuning = config.tuning
    return replay_crystals(config.model, tuning.replay_crystals, config.seed, config.data_root)


def _write_whole(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _copy_whole(source: Path, target: Path) -> None:
    partial = target.with_suffix(target.suffix + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
