"""The processed-dataset cache: hits, and misses whenever sources or options change."""

from __future__ import annotations

import pandas as pd
import torch

from gendesign.data.datasets import load_dataset


def _copy_carbon24(data_root, root, rows: int = 150):
    """A small data root holding the first ``rows`` rows of each carbon24 split."""
    (root / "carbon_24").mkdir(parents=True)
    for name in ("val.csv", "test.csv"):
        pd.read_csv(data_root / "carbon_24" / name).head(rows).to_csv(
            root / "carbon_24" / name, index=False
        )


def test_second_load_comes_from_cache_with_identical_tensors(carbon24):
    again = load_dataset("carbon24")
    assert again.from_cache and again.cache_path == carbon24.cache_path
    for split in ("train", "holdout", "test"):
        a, b = carbon24.splits[split], again.splits[split]
        assert a.ids == b.ids
        assert torch.equal(a.frac_coords, b.frac_coords) and torch.equal(a.lattice, b.lattice)
        assert torch.equal(a.properties, b.properties)
    assert again.vocabulary == carbon24.vocabulary


def test_changed_options_or_sources_miss_the_cache(tmp_path, data_root):
    root, cache = tmp_path / "root", str(tmp_path / "cache")
    _copy_carbon24(data_root, root)
    first = load_dataset("carbon24", data_root=str(root), cache_dir=cache)
    assert not first.from_cache
    assert load_dataset("carbon24", data_root=str(root), cache_dir=cache).from_cache
    other_seed = load_dataset("carbon24", data_root=str(root), cache_dir=cache, seed=5)
    assert not other_seed.from_cache and other_seed.cache_path != first.cache_path
    # Editing one byte of a source file invalidates the cache.
    test_csv = root / "carbon_24" / "test.csv"
    test_csv.write_text(test_csv.read_text().replace("C-", "X-", 1))
    edited = load_dataset("carbon24", data_root=str(root), cache_dir=cache)
    assert not edited.from_cache and edited.cache_path != first.cache_path


def test_a_corrupted_cache_file_is_rebuilt(tmp_path, data_root):
    root, cache = tmp_path / "root", str(tmp_path / "cache")
    _copy_carbon24(data_root, root)
    first = load_dataset("carbon24", data_root=str(root), cache_dir=cache)
    first.cache_path.write_bytes(b"truncated")
    rebuilt = load_dataset("carbon24", data_root=str(root), cache_dir=cache)
    assert not rebuilt.from_cache and rebuilt.splits["test"].ids == first.splits["test"].ids
    assert load_dataset("carbon24", data_root=str(root), cache_dir=cache).from_cache
