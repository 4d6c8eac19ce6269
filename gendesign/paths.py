"""Where gendesign finds data and keeps its caches.

Data root, first match wins: an explicit ``--data-root`` / argument, the
``GENDESIGN_DATA`` environment variable, then ``../shared/data`` beside the
checkout. The cache lives in ``GENDESIGN_CACHE`` or ``~/.cache/gendesign``.
"""

from __future__ import annotations

import os
from pathlib import Path

from gendesign.errors import DataRootError

DATA_ENV = "GENDESIGN_DATA"
CACHE_ENV = "GENDESIGN_CACHE"

# The repository root: gendesign/paths.py -> gendesign/ -> checkout
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
SIBLING_DATA_ROOT = CHECKOUT_ROOT.parent / "shared" / "data"


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
