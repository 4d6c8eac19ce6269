"""Reading the project's ``torch.save`` files with one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import torch

from gendesign.errors import InputError


def load_payload(path: str | Path, what: str, weights_only: bool = False) -> dict:
    """The dict saved at ``path``; a missing, unreadable or non-dict file raises one
    sentence naming the file and ``what`` it should be (e.g. "predictor checkpoint").
    ``weights_only``: read tensors and plain containers only, so no code in the file runs."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as err:
        raise InputError(f"{path}: not a readable {what} ({err})") from None
    if not isinstance(payload, dict):
        raise InputError(f"{path}: not a gendesign {what}")
    return payload
