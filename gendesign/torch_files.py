"""Reading the project's ``torch.save`` files with one-sentence errors, running no code.

Every file is read with ``torch.load(..., weights_only=True)``: tensors and plain
containers only. A file that holds anything else (a pickled object, whose loading would
run code of the file's choosing) is refused with a sentence, not loaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from gendesign.errors import InputError


def load_payload(path: str | Path, what: str) -> dict:
    """The dict saved at ``path``; a missing, unreadable, code-carrying or non-dict file
    raises one sentence naming the file and ``what`` it should be (e.g. "predictor
    checkpoint")."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(
            f"{path}: not a gendesign {what}: it holds objects other than tensors and plain "
            "data, which are refused unread (no code in it ran)"
        ) from None
    except Exception as err:
        raise InputError(f"{path}: not a readable {what} ({err})") from None
    if not isinstance(payload, dict):
        raise InputError(f"{path}: not a gendesign {what}")
    return payload
