"""The periodic neighbour graph against ASE's neighbour list, on real and skewed cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.neighborlist import neighbor_list

from gendesign.data.arrays import CrystalArrays, cartesian_coords
from gendesign.graphs.neighbors import periodic_radius_graph, radius_graph_for_batch


def _cart(arrays: CrystalArrays) -> torch.Tensor:
    owner = torch.repeat_interleave(torch.arange(len(arrays)), arrays.num_atoms)
    return cartesian_coords(arrays.frac_coords, arrays.lattice, owner)


def _ase_edges(cart, lattice, num_atoms, numbers, cutoff) -> dict[tuple, float]:
    """(i, j, S) -> distance from ASE for every crystal, with batch-global atom indices."""
    from ase import Atoms

    edges, start = {}, 0
    for crystal, n in enumerate(num_atoms.tolist()):
        atoms = Atoms(
            numbers=numbers[start : start + n].tolist(),
            positions=cart[start : start + n].numpy(),
            cell=lattice[crystal].numpy(),
            pbc=True,
        )
        i, j, shifts, distances = neighbor_list("ijSd", atoms, cutoff)
        for a, b, s, d in zip(i, j, shifts, distances, strict=True):
            edges[(a + start, b + start, *s.tolist())] = d
        start += n
    return edges


def _assert_same_as_ase(cart, lattice, num_atoms, numbers, cutoff) -> int:
    graph = periodic_radius_graph(cart, lattice, num_atoms, cutoff)
    ours = {
        (i, j, *s): d
        for i, j, s, d in zip(
            graph.centers.tolist(),
            graph.neighbors.tolist(),
            graph.offsets.tolist(),
            graph.distances.tolist(),
            strict=True,
        )
    }
    assert len(ours) == graph.num_edges  # no duplicate edges
    reference = _ase_edges(cart, lattice, num_atoms, numbers, cutoff)
    only_ours, only_ase = set(ours) - set(reference), set(reference) - set(ours)
    # Only pairs sitting on the cutoff sphere itself may differ by round-off.
    assert all(abs(ours[k] - cutoff) < 1e-9 for k in only_ours), sorted(only_ours)[:5]
    assert all(abs(reference[k] - cutoff) < 1e-9 for k in only_ase), sorted(only_ase)[:5]
    worst = max(abs(ours[k] - reference[k]) for k in set(ours) & set(reference))
    assert worst < 1e-5
    # vectors agree with the stated convention pos[j] - pos[i] + S @ lattice
    owner = torch.repeat_interleave(torch.arange(len(num_atoms)), num_atoms)[graph.centers]
    expected = (
        cart[graph.neighbors]
        - cart[graph.centers]
        + torch.einsum("ek,ekj->ej", graph.offsets.double(), lattice[owner])
    )
    torch.testing.assert_close(graph.vectors, expected)
    return len(reference)


@pytest.mark.parametrize("cutoff", [4.0, 7.0])
def test_matches_ase_on_300_mp20_structures(mp20, cutoff):
    arrays = mp20.splits["test"].subset(range(0, 9000, 30))
    edges = _assert_same_as_ase(
        _cart(arrays), arrays.lattice, arrays.num_atoms, arrays.atom_types, cutoff
    )
    assert edges > 10_000


def test_matches_ase_on_carbon24_structures(carbon24):
    arrays = carbon24.splits["test"].subset(range(0, 2000, 20))
    _assert_same_as_ase(_cart(arrays), arrays.lattice, arrays.num_atoms, arrays.atom_types, 5.0)


def test_matches_ase_on_skewed_and_unreduced_cells(mp20):
    """The same crystals in strongly sheared (non-reduced) supercell-free cells, with
    atoms left outside [0, 1): every image is still found."""
    arrays = mp20.splits["holdout"].subset(range(60))
    shear = torch.tensor(
        [[1, 2, 0], [0, 1, 1], [0, 0, 1]], dtype=torch.float64
    )  # det 1: same lattice
    lattice = shear @ arrays.lattice
    owner = torch.repeat_interleave(torch.arange(len(arrays)), arrays.num_atoms)
    cart = cartesian_coords(arrays.frac_coords, arrays.lattice, owner)
    cart = cart + torch.einsum(
        "nk,nkj->nj",
        torch.randint(-2, 3, cart.shape, generator=torch.Generator().manual_seed(0)).double(),
        lattice[owner],
    )
    angles = torch.rad2deg(
        torch.arccos(
            (lattice[:, 0] * lattice[:, 1]).sum(-1)
            / (lattice[:, 0].norm(dim=-1) * lattice[:, 1].norm(dim=-1))
        )
    )
    assert float((angles - 90).abs().max()) > 50  # genuinely skewed
    _assert_same_as_ase(cart, lattice, arrays.num_atoms, arrays.atom_types, 6.0)


def test_cells_much_smaller_than_the_cutoff():
    """One-atom cells (~2.5 Å) with a 9 Å cutoff need several images per direction."""
    crystals = [bulk("Cu", "fcc", a=3.6), bulk("Fe", "bcc", a=2.87), bulk("Si", "diamond", a=5.43)]
    cart = torch.tensor(np.concatenate([a.positions for a in crystals]))
    lattice = torch.tensor(np.stack([np.asarray(a.cell) for a in crystals]))
    num_atoms = torch.tensor([len(a) for a in crystals])
    numbers = torch.tensor(np.concatenate([a.numbers for a in crystals]))
    edges = _assert_same_as_ase(cart, lattice, num_atoms, numbers, 9.0)
    assert edges > 300


def test_max_neighbors_keeps_the_nearest(mp20):
    arrays = mp20.splits["test"].subset(range(40))
    cart = _cart(arrays)
    full = periodic_radius_graph(cart, arrays.lattice, arrays.num_atoms, 6.0)
    capped = periodic_radius_graph(cart, arrays.lattice, arrays.num_atoms, 6.0, max_neighbors=8)
    for center in range(int(arrays.num_atoms.sum())):
        all_d = torch.sort(full.distances[full.centers == center]).values
        kept = torch.sort(capped.distances[capped.centers == center]).values
        assert len(kept) == min(8, len(all_d))
        torch.testing.assert_close(kept, all_d[: len(kept)])


def test_chunked_search_gives_the_same_graph(mp20):
    arrays = mp20.splits["test"].subset(range(64))
    cart = _cart(arrays)
    whole = periodic_radius_graph(cart, arrays.lattice, arrays.num_atoms, 6.0)
    chunked = periodic_radius_graph(
        cart, arrays.lattice, arrays.num_atoms, 6.0, candidate_budget=5_000
    )
    assert torch.equal(whole.centers, chunked.centers) and torch.equal(
        whole.offsets, chunked.offsets
    )
    torch.testing.assert_close(whole.distances, chunked.distances)


def test_differentiable_in_positions_and_lattice(mp20):
    arrays = mp20.splits["test"].subset([0, 1, 2])
    cart = _cart(arrays).clone().requires_grad_(True)
    lattice = arrays.lattice.clone().requires_grad_(True)

    def energy(positions, cell):
        graph = periodic_radius_graph(positions, cell, arrays.num_atoms, 5.0)
        return torch.exp(-graph.distances).sum()

    # Small displacements do not change the edge set, so the energy is smooth there.
    assert torch.autograd.gradcheck(energy, (cart, lattice), eps=1e-6, atol=1e-5)
    energy(cart, lattice).backward()
    assert cart.grad.abs().sum() > 0 and lattice.grad.abs().sum() > 0
    # Translation invariance: forces sum to zero.
    torch.testing.assert_close(
        cart.grad.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-10, rtol=0
    )


def test_graph_for_a_loader_batch(mp20):
    batch = next(iter(mp20.loader("test", batch_size=16)))
    batch.frac_coords.requires_grad_(True)
    graph = radius_graph_for_batch(batch, cutoff=5.0, max_neighbors=12)
    assert graph.edge_index.shape == (2, graph.num_edges)
    assert torch.equal(graph.edge_index[1], graph.centers)
    graph.distances.sum().backward()
    assert batch.frac_coords.grad is not None
    assert int(torch.bincount(graph.centers).max()) <= 12
    # Uncapped, the float32 batch gives the same edges as the float64 arrays.
    uncapped = radius_graph_for_batch(batch, cutoff=5.0)
    arrays = mp20.splits["test"].subset(range(16))
    direct = periodic_radius_graph(_cart(arrays), arrays.lattice, arrays.num_atoms, 5.0)
    assert torch.equal(uncapped.centers, direct.centers) and torch.equal(
        uncapped.offsets, direct.offsets
    )
    torch.testing.assert_close(uncapped.distances.double(), direct.distances, atol=1e-4, rtol=0)
