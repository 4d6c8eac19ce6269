"""Where gendesign finds data and keeps its caches.

Data root, first match wins: an explicit ``--data-root`` / argument, the
``GENDESIGN_DATA`` environment variable, then ``../shared/data`` beside the
checkout. Pretrained third-party models (the matgl potentials) are found the same
way: an explicit path, ``GENDESIGN_MODELS``, then ``../shared/models`` beside the
checkout. The cache lives in ``GENDESIGN_CACHE`` or ``~/.cache/gendesign``.
"""

from __future__ import annotations

import os
from pathlib import Path

from gendesign.errors import DataRootError

DATA_ENV = "GENDESIGN_DATA"
CACHE_ENV = "GENDESIGN_CACHE"
MODELS_ENV = "GENDESIGN_MODELS"

# The repository root: gendesign/paths.py -> gendesign/ -> checkout
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
SIBLING_DATA_ROOT = CHECKOUT_ROOT.parent / "shared" / "data"
SIBLING_MODELS_ROOT = CHECKOUT_ROOT.parent / "shared" / "models"


def resolve_data_root(explicit: str | os.PathLike | None = None) -> Path:
    """Return the data root folder, or raise one sentence saying where we looked."""
    candidates: list[tuple[str, Path]] = []
    if explicit is not None:
        candidates.append(("--data-root", Path(explicit)))
    elif os.environ.get(DATA_ENV):
        candidates.append((DATA_ENV, Path(os.environ[DATA_ENV])))
    else:
        candidates.append(("the default beside the checkout", SIBLING_DATA_ROOT))
    origin, root = candidates[0]
    if root.is_dir():
        return root.resolve()
    raise DataRootError(
        f"No data root found at {root} (from {origin}); pass --data-root PATH or set "
        f"{DATA_ENV} to the folder that holds mp_20/, perov_5/ and carbon_24/."
    )


def resolve_models_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder of pretrained third-party models (``matgl/<name>/``): ``explicit``, then
    ``GENDESIGN_MODELS``, then ``../shared/models`` beside the checkout. Not checked for
    existence here: the loader of a model names the file it misses."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    return SIBLING_MODELS_ROOT


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
