"""Where every dataset and weight file comes from: one registry entry per file.

The registry (``registry.json`` beside this module) names, for each file a default
reads from outside the repository, its public URL pinned to a commit, its size in
bytes, its sha256 and its licence. Files are grouped into named entries
(``mp20``, ``mpts52``, ``tensornet-matpes-pbe``...), the names ``gendesign data fetch``
takes. An entry's ``root`` says which folder its paths are relative to: ``data``
(the data root, ``GENDESIGN_DATA``) or ``models`` (``GENDESIGN_MODELS``).

>>> entry("mpts52").files[0].path
'mpts_52/test.csv.gz'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Literal

from gendesign.errors import InputError

REGISTRY_FILE = Path(__file__).with_name("registry.json")
Root = Literal["data", "models"]

# Places under the data root that the code reads (the registry lists their files).
MP20_CACHE = Path("mp_20") / "mattergen_cache"  # MP-20 splits as arrays; train without positions
MP20_TRAIN_CSV = Path("mp_20") / "train.csv"  # MP-20 train with positions (optional entry)
MPTS52_FOLDER = Path("mpts_52")
MP_FORMATION_ENERGIES = Path("mp_e_form") / "mp_e_form.csv"


@dataclass(frozen=True)
class RemoteFile:
    """One file: its path under its root, where it is published, and how to check it."""

    path: str  # relative to the root, POSIX separators, e.g. "mp_e_form/mp_e_form.csv"
    url: str  # public URL, pinned to a commit
    size: int | None  # bytes; None where only a git blob id is known
    sha256: str | None = None
    git_blob_sha1: str | None = None  # GitHub's blob id: the checksum where no sha256 is known

    @property
    def checksum(self) -> str:
        """A short label of what a download is checked against."""
        return (
            f"sha256 {self.sha256[:12]}" if self.sha256 else f"git blob {self.git_blob_sha1[:12]}"
        )


@dataclass(frozen=True)
class RegistryEntry:
    """A dataset or a model: the files that make it up, with what it is and its licence."""

    name: str
    root: Root
    default: bool  # read by a default (the demo, the reference hull, the judges)
    description: str
    licence: str
    files: tuple[RemoteFile, ...]

    @property
    def size(self) -> int | None:
        """Bytes in all, or None when a file's size is not known ahead."""
        sizes = [f.size for f in self.files]
        return None if None in sizes else sum(sizes)


@cache
def registry() -> dict[str, RegistryEntry]:
    """Every entry, by name, in the registry file's order."""
    raw = json.loads(REGISTRY_FILE.read_text())
    return {
        name: RegistryEntry(
            name=name,
            root=spec["root"],
            default=spec["default"],
            description=spec["description"],
            licence=spec["licence"],
            files=tuple(RemoteFile(**f) for f in spec["files"]),
        )
        for name, spec in raw["entries"].items()
    }


def entry(name: str) -> RegistryEntry:
    """The entry called ``name``, or one sentence listing the names there are."""
    try:
        return registry()[name]
    except KeyError:
        raise InputError(
            f"'{name}' is not in the data registry; known names: {', '.join(registry())}"
        ) from None


def default_entries() -> list[RegistryEntry]:
    """The entries a default run reads: what ``gendesign data fetch`` gets without names."""
    return [e for e in registry().values() if e.default]


def files_under(root: Root, relative: str | Path) -> list[tuple[RegistryEntry, RemoteFile]]:
    """The registered files at ``relative`` (a file) or below it (a folder), under ``root``."""
    wanted = PurePosixPath(Path(relative).as_posix())
    found = []
    for item in registry().values():
        if item.root != root:
            continue
        for file in item.files:
            path = PurePosixPath(file.path)
            if path == wanted or wanted in path.parents:
                found.append((item, file))
    return found
