"""The aligned generator against its base: stability by two judges, S.U.N., collapse watch.

    python -m benchmarks.alignment run --models mp20-base outputs/alignment/mp20-aligned/model.pt
    python -m benchmarks.alignment tables

Per model, ``n`` unconditional samples (seed 100, a seed no alignment iteration used):

- distribution and collapse figures on all ``n`` (CDVAE protocol against MP-20 test):
  validity, COV-R/COV-P, unique %, W-#elements, W-density, P1 %, space groups;
- stability on the first ``relaxed`` valid samples: relaxed by CHGNet 0.3.0 (the reward
  judge; fmax 0.05 eV/Å, ≤ 300 FIRE steps), then again by TensorNet-MatPES-PBE from
  CHGNet's result (the evaluation judge, which took no part in the alignment, as the
  campaign's second judge does). Each judge's E_hull goes through its own fitted element
  references on the full hull (MP-20 + MPTS-52 + Materials Project formation energies).
  Stable: E_hull ≤ 0.1 eV/atom; a failed or unconverged relaxation is not stable.
  S.U.N.: stable, unique among the relaxed, and novel against every MP-20 crystal
  (train by formula and cell, val and test by StructureMatcher); novel-framework S.U.N.:
  of those, the ones no known crystal shares a framework with.

A reward exploit (CHGNet alone learning to like what the model makes) would show as a
CHGNet stable share rising while TensorNet's does not. Relaxations are kept in
``outputs/benchmarks/alignment/<model>/<judge>/`` as they finish; a rerun resumes.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks import reporting
from benchmarks.generators import STABILITY_WORK, audit_figures

NAME = "alignment"
SEED = 100
JUDGES = ("chgnet-0.3.0", "tensornet-matpes-pbe")
E_HULL_STABLE = 0.1


def _label(model: str) -> str:
    if model == "mp20-base":
        return "mp20-base (before alignment)"
    if model.endswith("mp20-aligned/model.pt") or model == "mp20":
        return "mp20 (aligned)"
    return model


def evaluate(model: str, n: int, relaxed: int) -> dict:
    from gendesign.audit.runner import audit
    from gendesign.data.crystal_set import CrystalSet
    from gendesign.model.generator import Generator
    from relax.potentials import load_potential
    from relax.relaxation import RelaxSettings
    from relax.runner import RELAXED_FOLDER, relax_structures, safe_name, stability_references

    generator = Generator.load(model, "cpu")
    started = time.perf_counter()
    structures = generator.sample(n, seed=SEED)
    sample_seconds = time.perf_counter() - started
    figures = audit_figures(structures, "mp20")
    valid = audit(structures, reference=None, coverage="off").table["valid"].to_numpy(bool)
    chosen = [s for s, ok in zip(structures, valid, strict=True) if ok][:relaxed]
    ids = [f"s{k:05d}" for k in range(len(chosen))]
    work = STABILITY_WORK / "alignment" / safe_name(model)
    inputs, judged = chosen, {}
    for judge in JUDGES:
        potential = load_potential(judge)
        references, hull = stability_references(potential, hull="full")
        table = relax_structures(
            CrystalSet(ids, inputs), potential, RelaxSettings(max_steps=300),
            out_dir=work / judge, references=references, hull=hull,
        )  # fmt: skip
        table = table.drop_duplicates("id", keep="last").set_index("id").loc[ids]
        cifs = [work / judge / RELAXED_FOLDER / f"{safe_name(i)}.cif" for i in ids]
        from pymatgen.core import Structure

        final = [
            Structure.from_file(c) if c.is_file() else s for c, s in zip(cifs, inputs, strict=True)
        ]
        e_hull = table["e_above_hull_eV_atom"].to_numpy(float)
        converged = (table["status"] == "converged").to_numpy()
        judged[judge] = {
            "e_hull": e_hull,
            "stable": np.isfinite(e_hull) & (e_hull <= E_HULL_STABLE) & converged,
            "structures": final,
            "hull": hull.tag,
            "seconds": float(table["seconds"].sum()),
        }
        inputs = final  # the next judge starts from this judge's relaxed crystals
    novelty = audit(judged[JUDGES[0]]["structures"], reference="mp20", coverage="off").table
    novel = novelty["novel"].fillna(False).astype(bool).to_numpy()
    unique = novelty["unique"].fillna(False).astype(bool).to_numpy()
    framework = (novelty["novelty_class"] == "novel-framework").to_numpy()
    per_judge = {}
    for judge, result in judged.items():
        stable = result["stable"]
        per_judge[judge] = {
            "stable_share": 100 * float(stable.mean()),
            "sun_share": 100 * float((stable & novel & unique).mean()),
            "novel_framework_sun_share": 100 * float((stable & novel & unique & framework).mean()),
            "median_e_hull": float(np.nanmedian(result["e_hull"])),
            "hull": result["hull"],
            "relax_seconds": result["seconds"],
        }
    both = judged[JUDGES[0]]["stable"] & judged[JUDGES[1]]["stable"]
    return {
        "samples": n,
        "relaxed": len(chosen),
        "sample_seconds": sample_seconds,
        "distribution": figures,
        "judges": per_judge,
        "stable_by_both_share": 100 * float(both.mean()),
        "sun_by_both_share": 100 * float((both & novel & unique).mean()),
        "novel_share": 100 * float(novel.mean()),
    }


def run(models: list[str], n: int, relaxed: int) -> dict:
    measured = {}
    for model in models:
        measured[_label(model)] = evaluate(model, n, relaxed)
        print(model, measured[_label(model)], flush=True)
    # read last: models measured by another run in the meantime stay
    previous = reporting.previous_results(NAME).get("run", {}).get("models", {})
    return {"seed": SEED, "models": {**previous, **measured}}


def write_tables(results: dict) -> None:
    run_ = results.get("run")
    if not run_:
        return
    models = run_["models"]
    pct = lambda x: f"{x:.1f} %"  # noqa: E731
    rows = []
    for label, r in models.items():
        d, chg, ten = r["distribution"], r["judges"][JUDGES[0]], r["judges"][JUDGES[1]]
        rows.append([
            label, r["relaxed"], pct(ten["stable_share"]), pct(ten["sun_share"]),
            pct(ten["novel_framework_sun_share"]), pct(d["uniqueness"]),
            f"{d['wdist_n_elements']:.3f}", pct(d["p1_share"]), pct(d["cov_r"]),
            pct(d["cov_p"]), f"{d['wdist_density']:.3f}",
        ])  # fmt: skip
    judges = []
    for label, r in models.items():
        chg, ten = r["judges"][JUDGES[0]], r["judges"][JUDGES[1]]
        judges.append([
            label, pct(chg["stable_share"]), pct(ten["stable_share"]),
            pct(r["stable_by_both_share"]), pct(chg["sun_share"]), pct(ten["sun_share"]),
            f"{chg['median_e_hull']:.3f}", f"{ten['median_e_hull']:.3f}",
        ])  # fmt: skip
    first = next(iter(models.values()))
    hull = first["judges"][JUDGES[1]]["hull"]
    body = (
        f"Unconditional samples, seed {run_['seed']} (no alignment iteration used it), "
        f"{first['samples']:,} per model for the distribution figures (CDVAE protocol against "
        "MP-20 test) and the first valid ones relaxed for stability. Evaluation judge: "
        "TensorNet-MatPES-PBE (took no part in the alignment), relaxed from CHGNet's result; "
        f"reward judge: CHGNet 0.3.0 (fmax 0.05 eV/Å, ≤ 300 FIRE steps). Hull: full ({hull}: "
        "MP-20 + MPTS-52 + Materials Project formation energies), through each judge's fitted "
        "element references; stable: E_hull ≤ 0.1 eV/atom and converged. Novelty: against "
        "every MP-20 crystal (train by formula and cell, val and test by StructureMatcher).\n\n"
        + reporting.markdown_table(
            [
                "model",
                "relaxed",
                "stable (TensorNet)",
                "S.U.N. (TensorNet)",
                "novel-framework S.U.N.",
                "unique",
                "W-#elements",
                "P1",
                "COV-R",
                "COV-P",
                "W-density",
            ],
            rows,
        )  # fmt: skip
        + "\n\nReward judge against evaluation judge, same relaxed samples (a reward exploit "
        "would lift CHGNet's column alone):\n\n"
        + reporting.markdown_table(
            [
                "model",
                "stable (CHGNet, reward)",
                "stable (TensorNet, evaluation)",
                "stable by both",
                "S.U.N. (CHGNet)",
                "S.U.N. (TensorNet)",
                "median E_hull CHGNet",
                "median E_hull TensorNet",
            ],
            judges,
        )  # fmt: skip
    )
    reporting.update_section(NAME, "Stability alignment: base against aligned", body)


def main(argv: list[str] | None = None) -> None:
    reporting.run_or_tables(
        NAME, __doc__, run, write_tables,
        {"models": ["mp20-base", "mp20"], "n": 1000, "relaxed": 60}, argv,
    )  # fmt: skip


if __name__ == "__main__":
    main()
