"""Generative-model benchmarks, evaluated with the structure audit (CDVAE protocol).

    python -m benchmarks.generation --model perov5 --generation 1000 --schedules 50x100 10x20
    python -m benchmarks.generation --model mp20 --reconstruction 1000 --steering --speed

- generation: validity, COV-R/COV-P and Wasserstein distances of ``n`` samples
  against the test split, one row per sampling schedule (levels × steps).
- reconstruction: encode → decode test crystals; match rate and RMSD.
- steering: CDVAE's optimisation protocol (100 prior latents, Adam on the
  property head, success rates SR5/10/15 against training percentiles, judged
  by the bundled GNN predictor) and range targets vs unsteered sampling.
- speed: samples per second on this machine at each schedule.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from benchmarks.reporting import RESULTS, markdown_table, update_section, write_result
from gendesign.audit.runner import audit
from gendesign.data.datasets import load_dataset
from gendesign.model.cdvae.config import SamplingConfig
from gendesign.model.cdvae.reconstruction import reconstruct
from gendesign.model.cdvae.sampling import decode
from gendesign.model.common.constraints import Constraints
from gendesign.model.common.steering import minimise_property
from gendesign.model.generator import Generator

RESULT = RESULTS / "generation.json"
# CDVAE (Xie et al. 2022, Table 2), trained on the full splits: validity struct / comp,
# COV-R, COV-P, wdist density, wdist #elements.
CDVAE_PUBLISHED = {
    "perov5": (100.0, 98.59, 99.45, 98.46, 0.126, 0.063),
    "mp20": (100.0, 86.70, 99.15, 99.49, 0.688, 1.432),
}


def schedule(text: str, batch_size: int = 256) -> SamplingConfig:
    levels, steps = (int(v) for v in text.lower().split("x"))
    return SamplingConfig(levels=levels, steps_per_level=steps, batch_size=batch_size)


def generation(generator: Generator, n: int, sampling: SamplingConfig) -> dict:
    start = time.perf_counter()
    structures = generator.sample(n, seed=0, sampling=sampling)
    seconds = time.perf_counter() - start
    summary = audit(structures, reference=generator.checkpoint.dataset, protocol="cdvae").summary
    return {
        "schedule": f"{sampling.levels}x{sampling.steps_per_level}",
        "samples": n,
        "seconds": seconds,
        "samples_per_s": n / seconds,
        "structural_validity": 100 * summary.validity.structural,
        "compositional_validity": 100 * summary.validity.compositional,
        "cov_r": 100 * summary.coverage.cov_recall,
        "cov_p": 100 * summary.coverage.cov_precision,
        "wdist_density": summary.distribution.wdist_density,
        "wdist_n_elements": summary.distribution.wdist_n_elements,
    }


def speed(generator: Generator, sampling: SamplingConfig, n: int = 64) -> dict:
    start = time.perf_counter()
    generator.sample(n, seed=1, sampling=sampling.model_copy(update={"batch_size": n}))
    seconds = time.perf_counter() - start
    return {
        "schedule": f"{sampling.levels}x{sampling.steps_per_level}",
        "samples": n,
        "samples_per_s": n / seconds,
    }


def reconstruction(generator: Generator, n: int, sampling: SamplingConfig) -> dict:
    test = load_dataset(generator.checkpoint.dataset).splits["test"]
    chosen = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:n]
    start = time.perf_counter()
    result = reconstruct(generator.model, test.subset(chosen), sampling)
    return {
        "schedule": f"{sampling.levels}x{sampling.steps_per_level}",
        "crystals": result.crystals,
        "match_rate": 100 * result.match_rate,
        "mean_rmsd": result.mean_rmsd,
        "seconds": time.perf_counter() - start,
    }


def steering(
    generator: Generator, sampling: SamplingConfig, ranges: dict[str, str], n: int
) -> dict:
    """CDVAE's SR5/10/15 for each steerable property, and range-target hit rates."""
    from predictors.inference import Predictor

    model = generator.model
    dataset = load_dataset(generator.checkpoint.dataset)
    predictor = Predictor.pretrained(dataset.name, device="cpu")
    out: dict = {"optimisation": {}, "ranges": {}}
    for name in model.property_names:
        if name not in predictor.targets:
            continue
        column = dataset.property_names.index(name)
        values = dataset.splits["train"].properties[:, column].numpy()
        percentiles = {p: float(np.nanpercentile(values, p)) for p in (5, 10, 15)}
        z = torch.randn((100, model.config.latent_dim), generator=torch.Generator().manual_seed(0))
        z = minimise_property(model, z, name)
        decoded = decode(
            model, z, sampling, generator=torch.Generator().manual_seed(0)
        ).structures()
        predicted = predictor.predict(decoded)[f"{name}_mean"].to_numpy()
        out["optimisation"][name] = {
            f"SR{p}": float(np.mean(predicted <= threshold)) * 100
            for p, threshold in percentiles.items()
        } | {"percentiles": percentiles}
    for name, text in ranges.items():
        constraints = Constraints.parse(targets=[f"{name}={text}"])
        hits = {}
        for label, used in (("steered", constraints), ("unsteered", Constraints())):
            structures = generator.sample(n, seed=3, constraints=used, sampling=sampling)
            table = audit(structures, reference=None).table
            valid = [s for s, ok in zip(structures, table["valid"], strict=True) if ok]
            predicted = predictor.predict(valid)[f"{name}_mean"].to_numpy()
            bounds = constraints.targets[name]
            hits[label] = (
                100 * float(np.mean([bounds.contains(v) for v in predicted])) if len(valid) else 0.0
            )
            hits[f"{label}_valid"] = len(valid)
        out["ranges"][f"{name}={text}"] = hits
    return out


def write_tables(results: dict) -> None:
    parts = []
    for dataset, entry in results.items():
        if dataset == "machine":
            continue
        published = CDVAE_PUBLISHED.get(dataset)
        rows = [
            [
                r["schedule"], r["samples"], f"{r['structural_validity']:.2f}", f"{r['compositional_validity']:.2f}",
                f"{r['cov_r']:.2f}", f"{r['cov_p']:.2f}", f"{r['wdist_density']:.3f}", f"{r['wdist_n_elements']:.3f}",
                f"{r['samples_per_s']:.2f}",
            ]
            for r in entry.get("generation", [])
        ]  # fmt: skip
        if published:
            rows.append(["CDVAE (paper, 50x100)", "10,000", *(f"{v:g}" for v in published), "–"])
        text = f"### {dataset} (model: {entry.get('model', '?')})\n\n"
        if rows:
            text += markdown_table(
                ["schedule (levels × steps)", "samples", "struct. validity %", "comp. validity %",
                 "COV-R %", "COV-P %", "wdist density", "wdist #elements", "samples/s (CPU)"],
                rows,
            )  # fmt: skip
        if "reconstruction" in entry:
            r = entry["reconstruction"]
            text += (
                f"\n\nReconstruction of {r['crystals']} test crystals ({r['schedule']}): "
                f"match rate {r['match_rate']:.1f} %, mean RMSD {r['mean_rmsd']:.4f}."
            )
        if "speed" in entry:
            text += "\n\nSpeed (64 samples, one batch): " + ", ".join(
                f"{s['schedule']}: {s['samples_per_s']:.2f} samples/s" for s in entry["speed"]
            )
        if "steering" in entry:
            for name, sr in entry["steering"]["optimisation"].items():
                text += (
                    f"\n\nProperty optimisation ({name}, 100 latents): SR5 {sr['SR5']:.0f} %, "
                    f"SR10 {sr['SR10']:.0f} %, SR15 {sr['SR15']:.0f} %."
                )
            for target, hits in entry["steering"]["ranges"].items():
                text += (
                    f"\n\nRange target {target}: {hits['steered']:.1f} % of {hits['steered_valid']} valid "
                    f"steered samples land in range (GNN estimate) vs {hits['unsteered']:.1f} % of "
                    f"{hits['unsteered_valid']} unsteered."
                )
        parts.append(text)
    update_section("generation", "Generative model", "\n\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="bundled name or model.pt path")
    parser.add_argument("--generation", type=int, default=0, help="samples per schedule")
    parser.add_argument("--schedules", nargs="*", default=["10x20"])
    parser.add_argument("--reconstruction", type=int, default=0)
    parser.add_argument("--steering", nargs="*", default=None, help="ranges, e.g. band_gap=1.5:2.5")
    parser.add_argument("--speed", nargs="*", default=None, help="schedules to time")
    args = parser.parse_args()
    generator = (
        Generator.from_checkpoint(args.model, "cpu")
        if args.model.endswith(".pt")
        else Generator.from_pretrained(args.model, "cpu")
    )
    results = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    results.pop("machine", None)
    entry = results.setdefault(generator.checkpoint.dataset, {})
    entry["model"] = args.model
    schedules = [schedule(s) for s in args.schedules]
    if args.generation:
        entry["generation"] = [generation(generator, args.generation, s) for s in schedules]
    if args.reconstruction:
        entry["reconstruction"] = reconstruction(generator, args.reconstruction, schedules[0])
    if args.steering is not None:
        ranges = dict(item.split("=", 1) for item in args.steering)
        entry["steering"] = steering(generator, schedules[0], ranges, n=200)
    if args.speed is not None:
        entry["speed"] = [speed(generator, schedule(s)) for s in args.speed]
    # Another invocation may have written meanwhile: merge into the file's latest state.
    latest = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    latest.pop("machine", None)
    latest.setdefault(generator.checkpoint.dataset, {}).update(entry)
    write_result("generation", latest)
    write_tables(latest)
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
