"""On-disk cache of processed datasets, keyed by source contents and options.

The key hashes the bytes of every source file together with the preprocessing
options and a format version, so editing a source file, changing an option or
upgrading the processed format all miss the cache instead of serving stale data.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

# Bump when the processed layout or preprocessing code changes what is stored.
CACHE_FORMAT_VERSION = 1
_CHUNK = 1 << 20


def source_files(path: Path) -> list[Path]:
    """The files a source consists of (a folder counts as all files in it, sorted)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    return [path]


def hash_sources(sources: Mapping[str, Path]) -> str:
    """sha256 over each source's file names and bytes, in split order."""
    digest = hashlib.sha256()
    for split, path in sources.items():
        for file in source_files(path):
            digest.update(f"{split}:{file.name}:".encode())
            with file.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
    return digest.hexdigest()


def cache_key(dataset: str, sources: Mapping[str, Path], options: Mapping) -> str:
    """Key for a processed dataset: name, format version, options, source contents."""
    header = json.dumps(
        {"dataset": dataset, "format": CACHE_FORMAT_VERSION, "options": dict(options)},
        sort_keys=True,
    )
    return hashlib.sha256((header + hash_sources(sources)).encode()).hexdigest()[:20]


class DatasetCache:
    """A folder of ``<dataset>-<key>.pt`` files written atomically."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, dataset: str, key: str) -> Path:
        return self.root / f"{dataset}-{key}.pt"

    def load(self, dataset: str, key: str) -> dict | None:
        """The stored payload, or None when absent or unreadable (then it is rebuilt)."""
        path = self.path(dataset, key)
        if not path.exists():
            return None
        try:
            return torch.load(path, weights_only=True)
        except Exception:
            return None  # a truncated or foreign file: rebuild rather than fail

    def save(self, dataset: str, key: str, payload: dict) -> Path:
        return write_atomically(self.path(dataset, key), lambda tmp: torch.save(payload, tmp))


def write_atomically(path: Path, write: Callable[[str], None], suffix: str = ".tmp") -> Path:
    """Call ``write(temporary_path)`` then rename onto ``path``, so a crash never leaves a
    half-written file (``suffix`` keeps writers that append extensions, like numpy, happy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=suffix)
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
