"""Discovery yield: the candidate sources side by side, the stability pre-screen, σ calibration.

    python -m benchmarks.discovery calibration           # test-split coverage before/after
    python -m benchmarks.discovery sources --n 500 --relax 20
    python -m benchmarks.discovery campaigns --n 200     # band-gap campaign per source + mixed
    python -m benchmarks.discovery tables

``sources``: per source, ``n`` candidates without targets (atoms 2-20, the MP-20
range) → validity, uniqueness and novelty classes against the MP-20 training
crystals (the val split, mp20-reduced) → pre-screen single points for the valid
unique ones → ``relax`` of them relaxed, drawn at random from all valid unique ones
(pre-screen off) and from those the pre-screen passes (on). Stability is judged by
the default potential (CHGNet 0.3.0 here) through its fitted element references
against the MP-20 DFT hull of all splits. Results merge into
benchmarks/results/discovery.json and the "Discovery yield" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.relaxing import relax_by_index
from benchmarks.reporting import markdown_table, previous_results, publish, update_section

NAME = "discovery"
E_HULL_STABLE = 0.1  # eV/atom
SOURCES = ("model", "substitution", "prototypes")


# ----------------------------------------------------------------------------- calibration
def calibration() -> dict:
    """1σ/2σ coverage of the bundled mp20 ensemble on the 9,046 test crystals, with the raw
    spread and with the calibration fitted on the holdout."""
    from gendesign.data.datasets import load_dataset
    from predictors.calibration import coverage
    from predictors.inference import Predictor

    predictor = Predictor.pretrained("mp20")
    test = load_dataset("mp20").crystal_set("test")
    table = predictor.predict(test).iloc[: len(test)]
    out = {"fitted_on": predictor.calibration.fitted_on, "test_crystals": len(test)}
    for target in predictor.targets:
        true = test.properties[target].to_numpy()
        usable = np.isfinite(true) & table[f"{target}_mean"].notna().to_numpy()
        error = (table[f"{target}_mean"].to_numpy() - true)[usable]
        fit = predictor.calibration.targets[target]
        out[target] = {
            "n": int(usable.sum()),
            "raw": coverage(error, table[f"{target}_spread"].to_numpy()[usable]),
            "calibrated": coverage(error, table[f"{target}_std"].to_numpy()[usable]),
            "fit": {"scale": fit.scale, "floor": fit.floor, "slope": fit.slope},
        }
    return out


# ----------------------------------------------------------------------------- sources
def _draw(source: str, n: int, seed: int, constraints, known):
    from gendesign.sources.prototypes import PrototypeDecoration
    from gendesign.sources.substitution import IonExchange

    if source == "model":
        from gendesign.model.generator import Generator

        generator = Generator.load("mp20")
        structures, _ = generator.sample_table(n, seed, constraints, generator.sampling_with({}))
        return structures
    kind = {"substitution": IonExchange, "prototypes": PrototypeDecoration}[source]
    drawn = kind(known, constraints).draw(n, np.random.default_rng(seed))
    return [d.structure for d in drawn if d is not None]


def sources(n: int, relax_count: int, e_hull_max: float, seed: int = 5) -> dict:
    from gendesign.audit.matching import NOVELTY_CLASSES, duplicate_of
    from gendesign.audit.structure_audit import audit_structure
    from gendesign.campaign import resources
    from gendesign.model.common.constraints import Constraints
    from relax.energies import single_point_energies
    from relax.potentials import load_potential
    from relax.runner import stability_references
    from relax.stability import stability_columns

    known = resources.known_crystals("mp20", None)  # the templates
    novelty = resources.novelty_reference("mp20", None, None)  # every MP-20 crystal
    potential = load_potential("auto")
    references, hull = stability_references(potential)
    constraints = Constraints(atoms=(2, 20))
    results = {}
    for source in SOURCES:
        started = time.perf_counter()
        structures = _draw(source, n, seed, constraints, known)
        made_seconds = time.perf_counter() - started
        valid = [s for s in structures if audit_structure(s, fingerprints=False).row["valid"]]
        formulas = [s.composition.reduced_formula for s in valid]
        first = duplicate_of(valid, formulas)
        unique = [s for k, s in enumerate(valid) if first[k] == k]
        classes = [m.novelty_class for m in novelty.classify(unique)]
        started = time.perf_counter()
        energies = single_point_energies(unique, potential)
        prescreen_seconds = time.perf_counter() - started
        estimates = np.array(
            [
                stability_columns(s.composition, e, references, hull, potential.info.name)[
                    "e_above_hull_eV_atom"
                ]
                for s, e in zip(unique, energies, strict=True)
            ]
        )
        passing = np.flatnonzero(np.isfinite(estimates) & (estimates <= e_hull_max))
        rng = np.random.default_rng(seed)
        arms = {
            "off": rng.choice(len(unique), min(relax_count, len(unique)), replace=False),
            "on": rng.choice(passing, min(relax_count, len(passing)), replace=False),
        }
        chosen = sorted(set(arms["off"]) | set(arms["on"]))
        rows, relaxed, relax_seconds = relax_by_index(
            {k: unique[k] for k in chosen}, potential, references, hull
        )
        final = [k for k in chosen if relaxed.get(k) is not None]
        after = dict(zip(final, novelty.classify([relaxed[k] for k in final]), strict=True))

        def share(indices, test) -> float:
            return 100 * float(np.mean([test(k) for k in indices])) if len(indices) else np.nan

        def stable(k, rows=rows) -> bool:
            e_hull = rows[k]["e_above_hull_eV_atom"]
            return bool(rows[k]["status"] != "failed" and e_hull <= E_HULL_STABLE)

        def sun(k, after=after) -> bool:
            return stable(k) and k in after and after[k].novel

        results[source] = {
            "drawn": len(structures),
            "validity": 100 * len(valid) / max(len(structures), 1),
            "uniqueness": 100 * len(unique) / max(len(valid), 1),
            "novelty_classes": {
                c: 100 * classes.count(c) / max(len(classes), 1) for c in NOVELTY_CLASSES
            },
            "prescreen_pass": 100 * len(passing) / max(len(unique), 1),
            "stable_off": share(arms["off"], stable),
            "stable_on": share(arms["on"], stable),
            "sun_off": share(arms["off"], sun),
            "sun_on": share(arms["on"], sun),
            "relaxed_off": len(arms["off"]),
            "relaxed_on": len(arms["on"]),
            "seconds": {
                "make": made_seconds,
                "prescreen_per_candidate": prescreen_seconds / max(len(unique), 1),
                "relax_per_candidate": relax_seconds / max(len(chosen), 1),
            },
        }
        print(source, results[source], flush=True)
    return {
        "n": n,
        "e_hull_max_prescreen": e_hull_max,
        "novelty_reference": novelty.label,
        "judge": f"{potential.info.name} energies through its fitted element references, "
        "MP-20 hull (DFT formation energies of all splits)",
        **results,
    }


# ----------------------------------------------------------------------------- campaigns
def campaigns(n: int, top_k: int, workers: int) -> dict:
    """The band-gap campaign of configs/campaign/example_bandgap.yaml at ``n`` candidates,
    once per source and once mixed."""
    from gendesign.campaign.config import CampaignConfig
    from gendesign.campaign.pipeline import run_campaign
    from gendesign.campaign.yields import funnel_masks, source_yield_table
    from gendesign.config import load_config

    base = load_config(CampaignConfig, Path("configs/campaign/example_bandgap.yaml"))
    variants = {
        "model": {"model": 1.0},
        "substitution": {"substitution": 1.0},
        "prototypes": {"prototypes": 1.0},
        "mixed": {"model": 0.2, "substitution": 0.6, "prototypes": 0.2},
    }
    out = {
        "n": n,
        "top_k": top_k,
        "targets": {k: v.describe() for k, v in base.targets.items()},
        "novelty_reference": "every MP-20 crystal (train by formula and cell, val and test by "
        "StructureMatcher)",
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, shares in variants.items():
            data = base.model_dump(mode="json")
            data.update(name=f"bandgap_{name}", out_dir=f"{folder}/{name}", batch_size=25)
            data["generate"].update(n=n, sources=shares)
            data["screen"].update(top_k=top_k)
            data["relax"]["settings"].update(max_steps=300)
            config = CampaignConfig.model_validate(data)
            started = time.perf_counter()
            run = run_campaign(config, workers=workers)
            seconds = time.perf_counter() - started
            table = run.store.table()
            masks = funnel_masks(table, config)
            final = int(masks["relaxed"].sum())
            out[name] = {
                "shares": shares,
                "final": final,
                "stable": int(masks["stable"].sum()),
                "sun": int(masks["S.U.N."].sum()),
                "stable_and_in_range": int(
                    (masks["stable"] & (table.get("rank_meets_targets") == True)).sum()  # noqa: E712
                ),
                "sun_in_range": int(masks["in range"].sum()),
                "minutes": seconds / 60,
                "per_source": source_yield_table(table, config).to_dict(orient="records"),
            }
            print(name, out[name], flush=True)
    return out


# ----------------------------------------------------------------------------- tables
def _pct(x) -> str:
    return "–" if x is None or x != x else f"{x:.1f}"


def _novelty_reference(part: dict) -> str:
    """What a part's novelty was judged against (figures measured before every MP-20 split
    counted as known said nothing: they used the val split alone)."""
    return part.get(
        "novelty_reference",
        "the MP-20 val split only, the reference of the time (known train and test "
        "crystals counted as novel then)",
    )


def write_tables(results: dict) -> None:
    parts = []
    if "sources" in results:
        s = results["sources"]
        rows = [
            [
                name,
                s[name]["drawn"],
                _pct(s[name]["validity"]),
                _pct(s[name]["uniqueness"]),
                " / ".join(_pct(v) for v in s[name]["novelty_classes"].values()),
                _pct(s[name]["prescreen_pass"]),
                f"{_pct(s[name]['stable_off'])} → {_pct(s[name]['stable_on'])}",
                f"{_pct(s[name]['sun_off'])} → {_pct(s[name]['sun_on'])}",
                f"{s[name]['relaxed_off']} / {s[name]['relaxed_on']}",
                f"{s[name]['seconds']['prescreen_per_candidate']:.3f} / "
                f"{s[name]['seconds']['relax_per_candidate']:.1f}",
            ]
            for name in SOURCES
            if name in s
        ]
        parts.append(
            f"### Candidate sources, {s['n']} candidates each, no targets (atoms 2–20)\n\n"
            f"Validity and uniqueness by the campaign audit; novelty classes of the unique "
            f"valid ones against {_novelty_reference(s)}. "
            f"Stable: E_hull ≤ {E_HULL_STABLE} eV/atom after relaxation (fmax 0.05 eV/Å, ≤ 300 "
            f"FIRE steps); judge: {s['judge']}. Relaxed: a random draw of the valid unique "
            f"candidates (pre-screen off) and of those whose single-point estimate is ≤ "
            f"{s['e_hull_max_prescreen']} eV/atom (on). S.U.N.: stable, unique, and the relaxed "
            "structure not a known crystal.\n\n"
            + markdown_table(
                [
                    "source",
                    "drawn",
                    "valid %",
                    "unique %",
                    "known / substitution-derived / novel-framework %",
                    "pass pre-screen %",
                    "stable % (off → on)",
                    "S.U.N. % (off → on)",
                    "relaxed (off / on)",
                    "s per candidate (pre-screen / relax)",
                ],
                rows,
            )
        )
    if "campaigns" in results:
        c = results["campaigns"]
        rows = []
        for name in ("model", "substitution", "prototypes", "mixed"):
            if name not in c:
                continue
            r = c[name]
            share = 100 * r["stable_and_in_range"] / r["final"] if r["final"] else float("nan")
            shares = ", ".join(f"{k} {v:g}" for k, v in r["shares"].items())
            rows.append(
                [name, shares, r["final"], r["stable"], r["sun"], r["stable_and_in_range"],
                 _pct(share), r["sun_in_range"], f"{r['minutes']:.1f}"]
            )  # fmt: skip
        mixed = c.get("mixed", {}).get("per_source", [])
        funnel = markdown_table(
            list(mixed[0]) if mixed else [], [list(row.values()) for row in mixed]
        )
        parts.append(
            f"### Band-gap campaign per source ({c['n']} candidates, top {c['top_k']} relaxed)\n\n"
            f"`configs/campaign/example_bandgap.yaml` (targets "
            + ", ".join(f"{k} {v}" for k, v in c["targets"].items())
            + ") at a size 2 cores run in minutes; pre-screen as configured. Final = relaxed "
            "candidates; in range by the GNN ensemble on the relaxed structure; S.U.N. with "
            f"novelty against {_novelty_reference(c)}.\n\n"
            + markdown_table(
                [
                    "sources",
                    "shares",
                    "final",
                    "stable",
                    "S.U.N.",
                    "stable & in range",
                    "stable & in range %",
                    "S.U.N. & in range",
                    "minutes",
                ],
                rows,
            )  # fmt: skip
            + "\n\nThe mixed campaign's funnel per source (each step inside the one before; "
            "in range: S.U.N. and every target met):\n\n" + funnel
        )
    if "calibration" in results:
        cal = results["calibration"]
        rows = [
            [
                target,
                cal[target]["n"],
                f"{100 * cal[target]['raw'][0]:.1f} / {100 * cal[target]['raw'][1]:.1f}",
                f"{100 * cal[target]['calibrated'][0]:.1f} / "
                f"{100 * cal[target]['calibrated'][1]:.1f}",
                ", ".join(f"{k} {v:.3g}" for k, v in cal[target]["fit"].items()),
            ]
            for target in cal
            if isinstance(cal[target], dict) and "raw" in cal[target]
        ]
        parts.append(
            f"### σ calibration of the mp20 predictor ensemble\n\nFitted on the {cal['fitted_on']}; "
            f"coverage of |error| on the {cal['test_crystals']} test crystals (target 68.3 / 95.4 %).\n\n"
            + markdown_table(
                ["target", "test crystals", "raw 1σ / 2σ %", "calibrated 1σ / 2σ %", "fit"], rows
            )
        )
    update_section(
        NAME, "Discovery yield: candidate sources, pre-screen, calibration", "\n\n".join(parts)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["calibration", "sources", "campaigns", "tables"])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--relax", type=int, default=20)
    parser.add_argument("--e-hull-max", type=float, default=0.3)
    parser.add_argument("--top-k", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results = previous_results(NAME)
    if args.part == "tables":  # re-render what is stored; nothing is re-measured or re-dated
        write_tables(results)
        return
    if args.part == "calibration":
        results["calibration"] = calibration()
    elif args.part == "sources":
        results["sources"] = sources(args.n, args.relax, args.e_hull_max)
    elif args.part == "campaigns":
        results["campaigns"] = campaigns(args.n, args.top_k, args.workers)
    latest = previous_results(NAME)
    latest.update({k: v for k, v in results.items() if k not in latest or k == args.part})
    publish(NAME, latest, write_tables)


if __name__ == "__main__":
    main()
