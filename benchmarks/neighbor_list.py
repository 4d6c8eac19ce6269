"""Periodic neighbour list: edges/second for a batch of 256 mp20 crystals.

Compares gendesign's batched torch search (one call for the whole batch) with
matscipy's C neighbour list called once per crystal, and ASE's for context.
All three are timed in the same run; the ratio is what to read.

    python -m benchmarks.neighbor_list [--batch 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list
from matscipy.neighbours import neighbour_list as matscipy_neighbour_list

from benchmarks.reporting import markdown_table, update_section, write_result
from gendesign.data.arrays import cartesian_coords
from gendesign.data.datasets import load_dataset
from gendesign.graphs.neighbors import periodic_radius_graph


def best_of(repeats: int, function, *args) -> float:
    """Median seconds over ``repeats`` calls of ``function(*args)``, after a warm-up."""
    function(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_crystal(neighbour_list, atoms: list[Atoms], cutoff: float) -> None:
    """A reference neighbour list called once per crystal, as a user would loop."""
    for crystal in atoms:
        neighbour_list("ijSdD", crystal, cutoff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cutoffs", type=float, nargs="+", default=[5.0, 6.0, 8.0])
    args = parser.parse_args()

    arrays = load_dataset("mp20").splits["test"].subset(range(args.batch))
    owner = torch.repeat_interleave(torch.arange(len(arrays)), arrays.num_atoms)
    cart64 = cartesian_coords(arrays.frac_coords, arrays.lattice, owner)
    cart32, lattice32 = cart64.float(), arrays.lattice.float()
    atoms = [
        Atoms(
            numbers=arrays.atom_types[arrays.atom_slice(k)].numpy(),
            positions=cart64[arrays.atom_slice(k)].numpy(),
            cell=arrays.lattice[k].numpy(),
            pbc=True,
        )
        for k in range(len(arrays))
    ]

    rows, results = [], []
    for cutoff in args.cutoffs:
        edges = periodic_radius_graph(cart64, arrays.lattice, arrays.num_atoms, cutoff).num_edges
        reference_edges = sum(len(matscipy_neighbour_list("i", a, cutoff)) for a in atoms)
        assert edges == reference_edges, (edges, reference_edges)
        batch = (arrays.num_atoms, cutoff)
        t64 = best_of(args.repeats, periodic_radius_graph, cart64, arrays.lattice, *batch)
        t32 = best_of(args.repeats, periodic_radius_graph, cart32, lattice32, *batch)
        t_matscipy = best_of(args.repeats, per_crystal, matscipy_neighbour_list, atoms, cutoff)
        t_ase = best_of(1, per_crystal, ase_neighbor_list, atoms, cutoff)
        result = {
            "cutoff_A": cutoff,
            "edges": edges,
            "seconds": {
                "gendesign_float64": t64,
                "gendesign_float32": t32,
                "matscipy": t_matscipy,
                "ase": t_ase,
            },
            "edges_per_second": {
                "gendesign_float64": edges / t64,
                "gendesign_float32": edges / t32,
                "matscipy": edges / t_matscipy,
                "ase": edges / t_ase,
            },
            "ratio_vs_matscipy": {"float64": t_matscipy / t64, "float32": t_matscipy / t32},
        }
        results.append(result)
        eps = result["edges_per_second"]
        rows.append(
            [
                f"{cutoff:.0f}",
                f"{edges:,}",
                f"{eps['gendesign_float64'] / 1e6:.2f}M",
                f"{eps['gendesign_float32'] / 1e6:.2f}M",
                f"{eps['matscipy'] / 1e6:.2f}M",
                f"{eps['ase'] / 1e6:.2f}M",
                f"**{t_matscipy / t64:.2f}×** / {t_matscipy / t32:.2f}×",
            ]
        )
        print(
            f"cutoff {cutoff} Å: {edges} edges; ours f64 {t64 * 1e3:.1f} ms, f32 {t32 * 1e3:.1f} ms, "
            f"matscipy {t_matscipy * 1e3:.1f} ms, ase {t_ase * 1e3:.1f} ms"
        )

    write_result(
        "neighbor_list",
        {"batch": args.batch, "dataset": "mp20 test (first crystals)", "results": results},
    )
    body = (
        f"Batch of {args.batch} mp20 test crystals, median of {args.repeats} runs. gendesign: one batched call "
        "(torch, CPU); matscipy and ASE: one call per crystal. Edge sets are identical (checked in the run).\n\n"
        + markdown_table(
            [
                "cutoff (Å)",
                "edges",
                "gendesign f64 edges/s",
                "gendesign f32 edges/s",
                "matscipy edges/s",
                "ASE edges/s",
                "speed vs matscipy (f64 / f32)",
            ],
            rows,
        )
    )
    update_section("neighbor_list", "Periodic neighbour list", body)


if __name__ == "__main__":
    main()
