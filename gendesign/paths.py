"""Where gendesign finds data and weights and keeps its caches.

Each root (``data``: datasets; ``models``: pretrained third-party models) has a
*mirror*, looked at before anything is downloaded. First match wins: an explicit
``--data-root`` / argument, the ``GENDESIGN_DATA`` (``GENDESIGN_MODELS``) environment
variable, then ``../shared/data`` (``../shared/models``) beside the checkout when that
folder exists. A mirror is a folder, or an ``http(s)://`` URL serving the same layout.
What no local mirror holds is fetched into the cache (``GENDESIGN_CACHE`` or
``~/.cache/gendesign``): see :mod:`gendesign.data.fetching`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gendesign.errors import DataRootError

DATA_ENV = "GENDESIGN_DATA"
CACHE_ENV = "GENDESIGN_CACHE"
MODELS_ENV = "GENDESIGN_MODELS"

# The repository root: gendesign/paths.py -> gendesign/ -> checkout
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
SIBLING_DATA_ROOT = CHECKOUT_ROOT.parent / "shared" / "data"
SIBLING_MODELS_ROOT = CHECKOUT_ROOT.parent / "shared" / "models"

Root = Literal["data", "models"]
ROOT_ENV = {"data": DATA_ENV, "models": MODELS_ENV}  # the variable naming each root's mirror
_SIBLING = {"data": SIBLING_DATA_ROOT, "models": SIBLING_MODELS_ROOT}
_OPTION = {"data": "--data-root", "models": "--models-root"}


@dataclass(frozen=True)
class Mirror:
    """Where the files of one root are looked for before their public URLs."""

    root: Root
    folder: Path | None = None  # a local copy of the root's layout
    url: str | None = None  # the same layout served over HTTP(S)
    origin: str = "no mirror"  # which setting chose it, for messages

    def describe(self) -> str:
        where = self.folder or self.url
        return f"{where} (from {self.origin})" if where else "no mirror"


def resolve_mirror(root: Root, explicit: str | os.PathLike | None = None) -> Mirror:
    """The mirror of ``root``, or one sentence when a named folder does not exist."""
    if explicit is not None:
        return _mirror_at(root, str(explicit), _OPTION[root])
    if os.environ.get(ROOT_ENV[root]):
        return _mirror_at(root, os.environ[ROOT_ENV[root]], ROOT_ENV[root])
    if _SIBLING[root].is_dir():
        return Mirror(
            root, folder=_SIBLING[root].resolve(), origin="the folder beside the checkout"
        )
    return Mirror(root)


def _mirror_at(root: Root, location: str, origin: str) -> Mirror:
    if location.startswith(("http://", "https://")):
        return Mirror(root, url=location.rstrip("/"), origin=origin)
    folder = Path(location).expanduser()
    if not folder.is_dir():
        raise DataRootError(
            f"{folder} (from {origin}) is not a folder; point {ROOT_ENV[root]} or {_OPTION[root]} "
            f"at a folder or an http(s) URL holding a copy of the {root} files, or unset it "
            "to fetch them from their public sources"
        )
    return Mirror(root, folder=folder.resolve(), origin=origin)


def resolve_data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder datasets are read from: the local mirror when there is one, else the
    cache's ``data/`` folder, where :func:`gendesign.data.fetching.data_path` puts the
    files it downloads."""
    mirror = resolve_mirror("data", explicit)
    return mirror.folder or fetched_root("data")


def fetched_root(root: Root) -> Path:
    """The cache folder that downloaded files of ``root`` go to (created)."""
    folder = resolve_cache_dir() / root
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resolve_cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Return (and create) the folder where processed datasets are cached."""
    if explicit is not None:
        root = Path(explicit)
    elif os.environ.get(CACHE_ENV):
        root = Path(os.environ[CACHE_ENV])
    else:
        root = Path.home() / ".cache" / "gendesign"
    root.mkdir(parents=True, exist_ok=True)
    return root
