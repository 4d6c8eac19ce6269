"""matgl's pretrained potentials (TensorNet on MatPES), loaded without running pickled code.

The second, independent judge of stability: another architecture (TensorNet, not a
CHGNet/MACE message-passing net) trained on another data set (MatPES PBE v2025.1,
not MPtrj). The files come from the models mirror or are fetched on first use
(:func:`gendesign.data.fetching.model_path`, ``matgl/<folder>/{model.json,model.pt,state.pt}``),
or from an explicit folder.

matgl's own loader unpickles ``model.pt`` with ``weights_only=False`` (and reaches for
a model hub when a name is not a folder). Here the model is rebuilt from its JSON
(only the classes in ``_ALLOWED`` are accepted) and its tensors are read with
``weights_only=True``, so a crafted file cannot run code.

Only matgl 2.1.x reproduces these weights: from matgl 2.2 on, TensorNet aggregates
its messages in the other direction (a fix that came with retrained weights), and
the v2025.1 weights then give forces of about 1 eV/Å on DFT-relaxed MP-20 crystals
(2.1.2: median largest force 0.15 eV/Å on 40 MP-20 test crystals, CHGNet 0.08).
"""

from __future__ import annotations

import json
import logging
from importlib.metadata import version
from pathlib import Path

import torch
from pymatgen.core import Element

from gendesign.data.fetching import model_path
from gendesign.errors import InputError
from gendesign.notices import muted_stdout

# Our name -> the folder under <models root>/matgl.
MATGL_POTENTIALS = {"tensornet-matpes-pbe": "TensorNet-MatPES-PBE-v2025.1-PES"}
# (module, class) pairs a potential's model.json may name; nothing else is built.
_ALLOWED = {
    ("matgl.apps._pes_pyg", "Potential"),
    ("matgl.models._tensornet_pyg", "TensorNet"),
}
_FILES = ("model.json", "model.pt", "state.pt")
SUPPORTED_MATGL = "2.1"  # the matgl minor version whose TensorNet matches these weights


def matgl_folder(name: str, path: str | Path | None = None) -> Path:
    """The folder holding potential ``name``: ``path`` when given, else the mirror's or the
    cache's copy (fetched on first use)."""
    folder = Path(path).expanduser() if path else model_path(Path("matgl") / MATGL_POTENTIALS[name])
    missing = [f for f in _FILES if not (folder / f).is_file()]
    if missing:
        raise InputError(
            f"{folder}: not a matgl potential folder (missing {', '.join(missing)}); pass the "
            "potential's folder with --potential-path"
        )
    return folder


def load_matgl_model(folder: Path, device: str):
    """The matgl ``Potential`` in ``folder``, built from its JSON and tensors only."""
    installed = version("matgl")
    if not installed.startswith(SUPPORTED_MATGL + "."):
        raise InputError(
            f"matgl {installed} is installed, but the {folder.name} weights are only reproduced "
            f"by matgl {SUPPORTED_MATGL}.x (pip install 'matgl~={SUPPORTED_MATGL}.2')"
        )
    try:
        spec = json.loads((folder / "model.json").read_text())
        inner = spec["kwargs"]["model"]
        for part in (spec, inner):
            if (part.get("@module"), part.get("@class")) not in _ALLOWED:
                raise InputError(
                    f"{folder / 'model.json'}: names {part.get('@module')}.{part.get('@class')}, "
                    "not a matgl TensorNet potential"
                )
        arguments = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    except InputError:
        raise
    except Exception as err:  # unreadable JSON, a pickle that needs code, a truncated file
        raise InputError(
            f"{folder}: not a loadable matgl potential ({type(err).__name__}: {err})"
        ) from None
    with muted_stdout():
        from matgl.apps._pes_pyg import Potential as MatglPotential
        from matgl.models._tensornet_pyg import TensorNet

    init = dict(inner["init_args"])
    init["element_types"] = tuple(init["element_types"])
    init["dtype"] = getattr(torch, str(init.get("dtype", "torch.float32")).removeprefix("torch."))
    options = {k: v for k, v in arguments.items() if k != "model"}
    model = MatglPotential(model=TensorNet(**init), **options)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # the one-hot table of the element references is rebuilt, not stored, by some versions
    if missing or [k for k in unexpected if not k.endswith("onehot")]:
        raise InputError(
            f"{folder}: its weights do not fit the model it describes (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    return model.to(device).eval()


def matgl_parts(name: str, path: str | Path | None, device: str):
    """(model, ASE calculator, atomic numbers it knows, folder) of matgl potential ``name``."""
    folder = matgl_folder(name, path)
    model = load_matgl_model(folder, device)
    with muted_stdout():
        from matgl.ext.ase import PESCalculator

        logging.getLogger("matgl").setLevel(logging.WARNING)  # its note on stress units
        calculator = PESCalculator(model, stress_unit="eV/A3")  # ASE's unit
    elements = frozenset(Element(symbol).Z for symbol in model.model.element_types)
    return model, calculator, elements, folder


def weights_file(folder: Path) -> Path:
    """The file whose checksum names the weights (the tensors, not the JSON)."""
    return folder / "state.pt"
