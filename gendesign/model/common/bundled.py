"""Where the bundled generative models live: ``gendesign/model/pretrained/<name>/``.

Both families' bundlers write there and :class:`~gendesign.model.generator.Generator`
reads from there, whichever family a bundle holds.
"""

from __future__ import annotations

from pathlib import Path

from gendesign.nn.pretrained import BundledModels

BUNDLED = BundledModels(Path(__file__).parents[1] / "pretrained", "model.pt", "generative model")
