"""Novelty against every known crystal: how well cells stand in for missing positions,
and what the full reference changes.

    python -m benchmarks.novelty cells            # calibration of the formula-and-cell match
    python -m benchmarks.novelty samples [--n 1000] [--seed 0]

- cells: every MP-20 test crystal against every MP-20 val crystal of the same reduced
  formula. StructureMatcher on the positions is the truth; the formula-and-cell match
  (:mod:`gendesign.data.known_cells`, val treated as if it had no positions) is the
  test. Recall, the false-match rate (of the pairs StructureMatcher tells apart), and
  per test crystal: how many with a same-formula val crystal but no structural match
  would be wrongly called known.
- samples: ``--n`` samples of the bundled mp20 model, their novelty classes against
  the old reference (the mp20-reduced training crystals, MP-20 val, by
  StructureMatcher) and the new one (all three MP-20 splits): how many the old one
  counted novel that are known.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
from joblib import Parallel, delayed

from benchmarks import reporting
from gendesign.data.fetching import data_path
from gendesign.data.known_cells import CellTolerances, cells_match
from gendesign.data.readers import read_mattergen_cache
from gendesign.data.registry import MP20_CACHE

NAME = "novelty"


def _pairs_chunk(test, val, pairs, tolerances):
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from gendesign.audit.matching import MATCHER_TOLERANCES

    matcher = StructureMatcher(**MATCHER_TOLERANCES)
    out = []
    for t, v in pairs:
        a, b = test[t], val[v]
        primitive = a.get_primitive_structure()
        out.append(
            (t, bool(matcher.fit(a, b)), cells_match(primitive, b.lattice, len(b), tolerances))
        )
    return out


def cells_part(workers: int = 2) -> dict:
    root = data_path(MP20_CACHE)
    val, test = read_mattergen_cache(root / "val"), read_mattergen_cache(root / "test")
    by_formula = defaultdict(list)
    for index, structure in enumerate(val.structures):
        by_formula[structure.composition.reduced_formula].append(index)
    pairs = [
        (t, v)
        for t, structure in enumerate(test.structures)
        for v in by_formula.get(structure.composition.reduced_formula, [])
    ]
    tolerances = CellTolerances()
    started = time.perf_counter()
    chunks = [pairs[k : k + 200] for k in range(0, len(pairs), 200)]
    results = [
        row
        for part in Parallel(n_jobs=workers)(
            delayed(_pairs_chunk)(test.structures, val.structures, chunk, tolerances)
            for chunk in chunks
        )
        for row in part
    ]
    truth = np.array([r[1] for r in results])
    called = np.array([r[2] for r in results])
    crystals = defaultdict(lambda: [False, False])
    for t, is_match, is_called in results:
        crystals[t][0] |= is_match
        crystals[t][1] |= is_called
    unmatched = [called for matched, called in crystals.values() if not matched]
    return {
        "pairs": len(results),
        "structure_matches": int(truth.sum()),
        "tp": int((truth & called).sum()),
        "fp": int((~truth & called).sum()),
        "fn": int((truth & ~called).sum()),
        "tn": int((~truth & ~called).sum()),
        "recall": float((truth & called).sum() / truth.sum()),
        "false_match_rate": float((~truth & called).sum() / (~truth).sum()),
        "test_crystals_with_same_formula_val": len(crystals),
        "test_crystals_without_structure_match": len(unmatched),
        "of_those_called_known": int(sum(unmatched)),
        "tolerances": tolerances.__dict__,
        "seconds": round(time.perf_counter() - started, 1),
    }


def samples_part(n: int, seed: int) -> dict:
    from gendesign.audit.novelty_reference import NoveltyReference, novelty_reference
    from gendesign.audit.structure_audit import audit_structure
    from gendesign.data.inputs import load_dataset_split
    from gendesign.data.known_crystals import known_crystals
    from gendesign.model.generator import Generator

    generator = Generator.load("mp20")
    structures = generator.sample(n, seed=seed)
    valid = [s for s in structures if audit_structure(s, fingerprints=False).row["valid"]]
    old_known = known_crystals(load_dataset_split("mp20", "train", None), "mp20:train")
    old = NoveltyReference("mp20-reduced train (MP-20 val)", old_known)
    new = novelty_reference("mp20")
    started = time.perf_counter()
    before = old.classify(valid, workers=2)
    old_seconds = time.perf_counter() - started
    started = time.perf_counter()
    after = new.classify(valid, workers=2)
    new_seconds = time.perf_counter() - started
    moved = [
        (b.novelty_class, a.matched_split)
        for b, a in zip(before, after, strict=True)
        if b.novel and not a.novel
    ]
    by_split = defaultdict(int)
    for _, split in moved:
        by_split[split] += 1
    return {
        "samples": n,
        "valid": len(valid),
        "seed": seed,
        "known_before": int(sum(not m.novel for m in before)),
        "known_after": int(sum(not m.novel for m in after)),
        "novel_before_known_after": len(moved),
        "moved_by_split": dict(by_split),
        "classes_after": {
            c: int(sum(m.novelty_class == c for m in after))
            for c in ("known", "substitution-derived", "novel-framework")
        },
        "seconds_old_reference": round(old_seconds, 1),
        "seconds_new_reference": round(new_seconds, 1),
        "reference_label": new.label,
    }


def write_tables(results: dict) -> None:
    lines = []
    cells = results.get("cells")
    if cells:
        t = cells["tolerances"]
        lines.append(
            "**Formula-and-cell match** (MP-20 train has no positions). Every MP-20 test crystal "
            "against every MP-20 val crystal of its reduced formula, val treated as if it had "
            "no positions; StructureMatcher (pymatgen defaults) on the positions is the truth. "
            f"Tolerances: volume per atom ±{t['volume_per_atom']:.0%}, lattice lengths "
            f"±{t['length']:.0%} and angles ±{t['angle']:g}° at equal volume, equal atom counts.\n"
        )
        lines.append(
            reporting.markdown_table(
                ["pairs", "structure matches", "tp / fp / fn / tn", "recall", "false-match rate"],
                [
                    [
                        f"{cells['pairs']:,}",
                        cells["structure_matches"],
                        f"{cells['tp']} / {cells['fp']} / {cells['fn']} / {cells['tn']}",
                        f"{cells['recall']:.3f}",
                        f"{cells['false_match_rate']:.3f}",
                    ]
                ],
            )
        )
        lines.append(
            f"\nPer crystal: of the {cells['test_crystals_without_structure_match']} test crystals "
            "that share a formula with a val crystal but match none of them, "
            f"{cells['of_those_called_known']} would be called known "
            f"({cells['of_those_called_known'] / max(cells['test_crystals_without_structure_match'], 1):.1%}). "
            "Nearly all of those false matches are another arrangement of the same formula in "
            "the same cell, which no test without positions can tell apart; the error makes "
            "novelty conservative (a new crystal called known), never the reverse.\n"
        )
    samples = results.get("samples")
    if samples:
        moved = (
            ", ".join(f"{v} {k}" for k, v in sorted(samples["moved_by_split"].items())) or "none"
        )
        lines.append(
            f"**What the full reference changes**: {samples['samples']:,} samples of the bundled "
            f"mp20 model (seed {samples['seed']}), {samples['valid']:,} valid. Known before (MP-20 "
            f"val, StructureMatcher): {samples['known_before']}; known now "
            f"({samples['reference_label']}): {samples['known_after']}. "
            f"{samples['novel_before_known_after']} counted novel before are known MP-20 "
            f"crystals ({moved}). Classes now: "
            + ", ".join(f"{k} {v}" for k, v in samples["classes_after"].items())
            + f". Matching took {samples['seconds_old_reference']:.0f} s before and "
            f"{samples['seconds_new_reference']:.0f} s now (2 workers)."
        )
    reporting.update_section(NAME, "Novelty against every known crystal", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=["cells", "samples"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = reporting.previous_results(NAME)
    facts = reporting.measurement_facts()
    if "cells" in args.parts:  # each part is kept as soon as it is measured
        results["cells"] = cells_part()
        reporting.mark_measured(results, "cells", ["val vs test"], facts)
        reporting.publish(NAME, results, write_tables)
    if "samples" in args.parts:
        results["samples"] = samples_part(args.n, args.seed)
        reporting.mark_measured(results, "samples", [f"{args.n} mp20 samples"], facts)
        reporting.publish(NAME, results, write_tables)


if __name__ == "__main__":
    main()
