"""Files crafted to run code when loaded: what a checkpoint or cache from elsewhere may be."""

from __future__ import annotations

from pathlib import Path

import torch


class CodeOnLoad:
    """Unpickling this creates ``target``: it stands for any code a crafted file could run."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def write_crafted_torch_file(path: Path, marker: Path, **fields) -> Path:
    """A ``torch.save`` dict with the project's fields (``fields``) and one object whose
    loading creates ``marker``."""
    torch.save({**fields, "payload": CodeOnLoad(marker)}, path)
    return path
