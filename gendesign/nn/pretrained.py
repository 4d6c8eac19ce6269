"""Bundled models by name: one folder per model under a family's ``pretrained/``.

Every command that takes a model accepts either a bundled name (``mp20``) or a
checkpoint path (``run/model.pt``). :meth:`BundledModels.name_of` is the one
place that tells them apart, and :meth:`BundledModels.files` says in one
sentence what is bundled when a name is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gendesign.errors import InputError


@dataclass(frozen=True)
class BundledModels:
    """The bundled models of one family: ``folder/<name>/<pattern>``."""

    folder: Path
    pattern: str  # the checkpoint file(s) inside a model's folder, e.g. "model.pt", "member*.pt"
    what: str  # e.g. "generative model", "predictor"

    def names(self) -> list[str]:
        return sorted({path.parent.name for path in self.folder.glob(f"*/{self.pattern}")})

    def files(self, name: str) -> list[Path]:
        """The checkpoint file(s) of bundled model ``name``; an unknown name raises one
        sentence listing the bundled ones."""
        found = sorted((self.folder / name).glob(self.pattern)) if name else []
        if not found:
            known = ", ".join(self.names()) or "none installed"
            raise InputError(f"no bundled {self.what} named '{name}' (bundled: {known})")
        return found

    @staticmethod
    def name_of(spec: str | Path) -> str | None:
        """``spec`` as a bundled model's name, or None when it is a checkpoint path
        (it ends in ``.pt``, has a folder part, or exists)."""
        text = str(spec)
        if text.endswith(".pt") or "/" in text or Path(text).exists():
            return None
        return text
