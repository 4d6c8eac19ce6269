"""Dataset cache: first load (read + preprocess + write cache) vs a cached load.

python -m benchmarks.data_cache [--datasets mp20 perov5 carbon24]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from benchmarks.reporting import markdown_table, update_section, write_result
from gendesign.data.datasets import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mp20", "perov5", "carbon24"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rows, results = [], []
    for name in args.datasets:
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            data = load_dataset(name, cache_dir=cache)
            first = time.perf_counter() - start
            assert not data.from_cache
            cached = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                again = load_dataset(name, cache_dir=cache)
                cached.append(time.perf_counter() - start)
                assert again.from_cache
            second = statistics.median(cached)
            size_mb = data.cache_path.stat().st_size / 1e6
        crystals = sum(len(split) for split in data.splits.values())
        results.append(
            {
                "dataset": name,
                "crystals": crystals,
                "first_load_s": first,
                "cached_load_s": second,
                "speedup": first / second,
                "cache_file_MB": size_mb,
            }
        )
        rows.append(
            [
                name,
                f"{crystals:,}",
                f"{first:.1f}",
                f"{second:.3f}",
                f"**{first / second:.0f}×**",
                f"{size_mb:.1f}",
            ]
        )
        print(
            f"{name}: first {first:.2f} s, cached {second:.3f} s ({first / second:.0f}x), {size_mb:.1f} MB"
        )
    write_result("data_cache", {"results": results})
    body = (
        "First load = read the source files, validate, Niggli-reduce, split, fit scalers and write the "
        f"cache; cached load = median of {args.repeats} loads of the same dataset (source files are still "
        "hashed to key the cache).\n\n"
        + markdown_table(
            [
                "dataset",
                "crystals",
                "first load (s)",
                "cached load (s)",
                "speed-up",
                "cache file (MB)",
            ],
            rows,
        )
    )
    update_section("data_cache", "Dataset cache", body)


if __name__ == "__main__":
    main()
