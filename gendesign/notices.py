"""Third-party notices: off unless the user asks for them (``gendesign --verbose``).

Libraries under the pipeline print or warn about things a user cannot act on
(mace's missing cuequivariance, CHGNet's "initialized with N parameters",
e3nn's weights-only note, pymatgen's noble gases without electronegativity).
:func:`quiet_third_party` filters those warnings; :func:`muted_stdout` swallows
what a library prints while it is imported or loaded. ``--verbose`` sets
``GENDESIGN_VERBOSE=1``, which worker processes inherit, and turns both off.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterator

VERBOSE_ENV = "GENDESIGN_VERBOSE"

# How the warnings that tell our users nothing they can act on begin (literal text).
THIRD_PARTY_WARNINGS = (
    "No Pauling electronegativity",  # pymatgen, for noble gases
    "Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",  # e3nn under mace-torch
    "`isinstance(treespec, LeafSpec)`",  # Lightning's use of torch's pytree API
    "Converting a tensor with requires_grad",  # CHGNet's ASE calculator
    "The given NumPy array is not writable",  # torch, inside matgl's graph converter
    "Creating a tensor from a list of numpy.ndarrays",  # the same
)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def set_verbose(on: bool) -> None:
    """Remember the choice for this process and the worker processes it starts."""
    os.environ[VERBOSE_ENV] = "1" if on else "0"


def quiet_third_party() -> None:
    """Ignore :data:`THIRD_PARTY_WARNINGS` in this process and the processes it starts
    (unless verbose), and keep spglib's C library from printing the searches it gives
    up on to stderr."""
    if verbose():
        return
    os.environ.setdefault("SPGLIB_WARNING", "OFF")
    for message in THIRD_PARTY_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message))
    # Worker processes (joblib's, the campaign pools) start with Python's own filters;
    # they inherit the environment's. PYTHONWARNINGS cannot hold ',' or ':' in a message.
    inherited = [e for e in os.environ.get("PYTHONWARNINGS", "").split(",") if e]
    for message in THIRD_PARTY_WARNINGS:
        entry = f"ignore:{message}"
        if not {",", ":"} & set(message) and entry not in inherited:
            inherited.append(entry)
    os.environ["PYTHONWARNINGS"] = ",".join(inherited)


@contextlib.contextmanager
def muted_stdout() -> Iterator[None]:
    """What libraries print to stdout inside the block is dropped (unless verbose)."""
    if verbose():
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield
