"""Interatomic potentials behind one small interface: an ASE calculator plus provenance.

MACE foundation models (mace-torch) come first. Their weights resolve, in order:
an explicit path, the ``GENDESIGN_MACE_MODEL`` environment variable, mace's own
cache directory (``~/.cache/mace``), and mace's download — the last only when a
network is reachable. CHGNet 0.3.0, whose weights ship inside the chgnet wheel,
is the offline fallback: ``auto`` picks MACE when its weights resolve without a
network and CHGNet otherwise, with one warning saying how to get MACE. matgl's
TensorNet trained on MatPES (:mod:`relax.matgl_potentials`) is the second judge:
another architecture and another training set.

Any other potential plugs in as a factory that returns an ASE calculator, by name:

- an entry point of the group ``gendesign.potentials`` in the plug-in's own package
  (``[project.entry-points."gendesign.potentials"] my-potential = "my_pkg.calc:make"``),
  then ``--potential my-potential``;
- or a ``module:factory`` string, e.g. ``--potential my_pkg.calc:make``.

The factory is called with ``device`` ("cpu" or "cuda") and returns the calculator. It
may set ``calculator.gendesign_weights`` (a file path, whose sha256 then names the
weights) and ``calculator.gendesign_elements`` (the atomic numbers it knows). A plug-in
relaxes through torch-sim's batched FIRE like the built-ins (its calculator evaluates
the systems of a batch one after another) and gets its element reference energies
fitted on first use (:func:`relax.energies.element_references`).

Every result carries the potential's name, package version and weights checksum
(:class:`PotentialInfo`), so numbers from different potentials are never mixed up.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import re
import socket
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions, version
from pathlib import Path

import torch
from ase.calculators.calculator import Calculator

from gendesign.errors import ConfigError, InputError
from gendesign.notices import muted_stdout

log = logging.getLogger(__name__)

MACE_MODEL_ENV = "GENDESIGN_MACE_MODEL"
# Our names -> mace-torch's names for its foundation models (mace.calculators.mace_mp).
MACE_FOUNDATION_MODELS = {
    "mace-mp-0-small": "small",
    "mace-mp-0-medium": "medium",
    "mace-mpa-0": "medium-mpa-0",
}
DEFAULT_MACE = "mace-mp-0-medium"
CHGNET = "chgnet-0.3.0"
TENSORNET_MATPES = "tensornet-matpes-pbe"  # matgl's TensorNet on MatPES PBE (v2025.1)
POTENTIALS = ("auto", *MACE_FOUNDATION_MODELS, "mace", CHGNET, TENSORNET_MATPES)
ENTRY_POINT_GROUP = "gendesign.potentials"
_FACTORY_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # module.path:function
HOW_TO_GET_MACE = (
    "to use MACE, download a foundation model (e.g. "
    "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0/2023-12-03-mace-128-L1_epoch-199.model) "
    f"on a machine with a network and pass it with --potential-path or ${MACE_MODEL_ENV}"
)
FALLBACK_NOTICE = f"no MACE weights found without a network: using {CHGNET}; {HOW_TO_GET_MACE}"
# Set once the fallback was announced, so worker processes (which inherit it) stay quiet.
_ANNOUNCED_ENV = "GENDESIGN_POTENTIAL_ANNOUNCED"


@dataclass(frozen=True)
class PotentialInfo:
    """Which potential produced a number."""

    name: str  # e.g. "mace-mp-0-medium", "mace" (a user file), "chgnet-0.3.0"
    package_version: str  # "mace-torch 0.3.16"
    weights_path: str
    weights_sha256: str

    def as_columns(self) -> dict[str, str]:
        return {
            "potential": self.name,
            "potential_version": self.package_version,
            "potential_sha256": self.weights_sha256,
        }


@dataclass
class Potential:
    """A loaded potential: its ASE calculator, provenance and the elements it knows."""

    info: PotentialInfo
    calculator: Calculator
    elements: frozenset[int]  # atomic numbers in its training data
    dtype: torch.dtype
    device: str
    model: torch.nn.Module | None = field(default=None, repr=False)  # the raw torch model
    kind: str = "mace"  # "mace", "chgnet", "matgl" or "plugin" (an ASE calculator alone)

    def unsupported_elements(self, atomic_numbers) -> list[int]:
        return sorted({int(z) for z in atomic_numbers} - self.elements)


def load_potential(
    name: str = "auto",
    path: str | Path | None = None,
    device: str | None = None,
    dtype: str = "float64",
) -> Potential:
    """Load a potential by name (see ``POTENTIALS``, :func:`potential_names`, or a
    ``module:factory`` plug-in); ``path`` points at a MACE ``.model`` file (or, for a
    matgl potential, at its folder).

    ``device`` None means CUDA when present; float64 is the default for relaxation.
    """
    check_potential_name(name)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if name not in POTENTIALS:
        return _load_plugin(name, device)
    if name == CHGNET:
        return _load_chgnet(device)
    if name == TENSORNET_MATPES:
        return _load_matgl(name, path, device)
    mace_name = DEFAULT_MACE if name in ("auto", "mace") else name
    weights = resolve_mace_weights(mace_name, path, allow_download=name != "auto")
    if weights is None:  # only for "auto"
        if os.environ.get(_ANNOUNCED_ENV) != "1":
            log.warning(FALLBACK_NOTICE)
        return _load_chgnet(device)
    label = "mace" if path or os.environ.get(MACE_MODEL_ENV) else mace_name
    return _load_mace(label, weights, device, dtype)


def registered_potentials() -> dict[str, str]:
    """Plug-in potentials installed through the ``gendesign.potentials`` entry point group:
    name → ``module:factory``."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def potential_names() -> tuple[str, ...]:
    """Every potential a name can load: the built-ins, then the registered plug-ins."""
    return (*POTENTIALS, *sorted(registered_potentials()))


def check_potential_name(name: str) -> str:
    """``name`` when it names a potential (built-in, registered, or ``module:factory``)."""
    if name in POTENTIALS or name in registered_potentials() or _FACTORY_SPEC.match(name):
        return name
    raise ConfigError(
        f"unknown potential '{name}'; choose one of {', '.join(potential_names())}, or give a "
        "plug-in as module:factory"
    )


def _load_plugin(name: str, device: str) -> Potential:
    """A plug-in potential: its factory's ASE calculator, with provenance."""
    spec = registered_potentials().get(name, name)
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"potential '{name}': cannot import {spec} ({err})") from None
    try:
        with muted_stdout():
            calculator = factory(device=device)
    except Exception as err:  # a plug-in's own failure, named with where it came from
        raise InputError(
            f"potential '{name}': its factory {spec} failed ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(calculator, Calculator):
        raise InputError(
            f"potential '{name}': its factory {spec} returned {type(calculator).__name__}, "
            "not an ASE calculator"
        )
    package = _distribution_of(module_name)
    weights = getattr(calculator, "gendesign_weights", None)
    if weights:
        checksum = file_sha256(weights)
    else:  # no weights file named: the factory and its package version identify it
        checksum = hashlib.sha256(f"{spec}|{package}".encode()).hexdigest()
    elements = getattr(calculator, "gendesign_elements", None) or range(1, 95)
    return Potential(
        info=PotentialInfo(name, package, str(weights or spec), checksum),
        calculator=calculator,
        elements=frozenset(int(z) for z in elements),
        dtype=torch.float64,
        device=device,
        kind="plugin",
    )


def _distribution_of(module_name: str) -> str:
    """``"<distribution> <version>"`` of the package that holds ``module_name``."""
    top = module_name.split(".")[0]
    for distribution in packages_distributions().get(top, []):
        try:
            return f"{distribution} {version(distribution)}"
        except PackageNotFoundError:
            continue
    return f"{top} (not an installed distribution)"


def preload_libraries() -> None:
    """Import CHGNet's and mace's code (not their weights), e.g. once for many workers."""
    with muted_stdout():
        import chgnet.model.dynamics  # noqa: F401
        import mace.calculators  # noqa: F401


def announce_potential(name: str, path: str | Path | None = None) -> None:
    """Say once, before worker processes start, that ``auto`` falls back to CHGNet (when it
    does); the workers that load the potential then do so without repeating it."""
    unannounced = name == "auto" and os.environ.get(_ANNOUNCED_ENV) != "1"
    if unannounced and resolve_mace_weights(DEFAULT_MACE, path, allow_download=False) is None:
        log.warning(FALLBACK_NOTICE)
    os.environ[_ANNOUNCED_ENV] = "1"


def resolve_mace_weights(
    name: str, path: str | Path | None = None, allow_download: bool = True
) -> Path | None:
    """The MACE model file to use, or None when only a download could provide it and
    downloading is not allowed."""
    explicit = path or os.environ.get(MACE_MODEL_ENV)
    if explicit:
        explicit = Path(explicit).expanduser()
        if not explicit.is_file():
            source = "--potential-path" if path else f"${MACE_MODEL_ENV}"
            raise InputError(f"{explicit}: MACE model file not found (from {source})")
        return explicit
    with muted_stdout():  # mace prints that cuequivariance is not installed
        from mace.calculators.foundations_models import download_mace_mp_checkpoint, mace_mp_urls
        from mace.tools.utils import get_cache_dir

    mace_key = MACE_FOUNDATION_MODELS.get(name, MACE_FOUNDATION_MODELS[DEFAULT_MACE])
    cached = Path(get_cache_dir()) / os.path.basename(mace_mp_urls[mace_key])
    if cached.is_file():
        return cached
    if not allow_download:
        return None
    if not network_available():
        raise InputError(
            f"MACE weights for {name} are not in {cached.parent} and there is no network; {HOW_TO_GET_MACE}"
        )
    return Path(download_mace_mp_checkpoint(mace_key))


def network_available(host: str = "github.com", timeout_s: float = 3.0) -> bool:
    """Whether ``host`` answers on port 443 within ``timeout_s`` seconds."""
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_mace(label: str, weights: Path, device: str, dtype: str) -> Potential:
    with muted_stdout():
        from mace.calculators import MACECalculator
    try:
        calculator = MACECalculator(model_paths=str(weights), device=device, default_dtype=dtype)
    except Exception as err:
        raise InputError(f"{weights}: not a loadable MACE model ({err})") from None
    model = calculator.models[0]
    return Potential(
        info=PotentialInfo(
            label, f"mace-torch {version('mace-torch')}", str(weights), file_sha256(weights)
        ),
        calculator=calculator,
        elements=frozenset(int(z) for z in model.atomic_numbers),
        dtype=getattr(torch, dtype),
        device=device,
        model=model,
    )


def _load_chgnet(device: str) -> Potential:
    import chgnet
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    with muted_stdout():  # "CHGNet v0.3.0 initialized with ...", "CHGNet will run on cpu"
        model = CHGNet.load(model_name="0.3.0", use_device=device, verbose=False)
        calculator = CHGNetCalculator(model, use_device=device)
    weights = next((Path(chgnet.__file__).parent / "pretrained" / "0.3.0").glob("*.pth.tar"))
    return Potential(
        info=PotentialInfo(
            CHGNET, f"chgnet {version('chgnet')}", str(weights), file_sha256(weights)
        ),
        calculator=calculator,
        elements=frozenset(range(1, 95)),  # CHGNet's embedding covers H..Pu
        dtype=torch.float32,
        device=device,
        model=model,
        kind="chgnet",
    )


def _load_matgl(name: str, path: str | Path | None, device: str) -> Potential:
    from relax.matgl_potentials import matgl_parts, weights_file

    model, calculator, elements, folder = matgl_parts(name, path, device)
    weights = weights_file(folder)
    return Potential(
        info=PotentialInfo(name, f"matgl {version('matgl')}", str(folder), file_sha256(weights)),
        calculator=calculator,
        elements=elements,
        dtype=torch.float32,
        device=device,
        model=model,
        kind="matgl",
    )
