"""A third-party potential as a plug-in would ship it: a factory returning an ASE calculator.

CHGNet 0.2.0 (its weights ship inside the chgnet wheel beside the built-in 0.3.0): a real
potential with its own weights, loaded through the plug-in route, not the built-in one.
"""

from __future__ import annotations

from pathlib import Path


def chgnet_020(device: str = "cpu"):
    import chgnet
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    model = CHGNet.load(model_name="0.2.0", use_device=device, verbose=False)
    calculator = CHGNetCalculator(model, use_device=device)
    weights = Path(chgnet.__file__).parent / "pretrained" / "0.2.0"
    calculator.gendesign_weights = str(next(weights.glob("*.pth.tar")))
    return calculator
