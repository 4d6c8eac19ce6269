"""Modules that moved, importable under their old names for one release.

``import gendesign.model.flow_sampling`` (an old path) returns the module now at
``gendesign.model.crystalflow.sampling``, with a DeprecationWarning that names the new
path; ``python -m`` on an old path runs the new module. Remove an entry one release
after its move.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable
from types import CodeType, ModuleType

REMOVED_IN = "0.3"

MOVED: dict[str, str] = {
    # the two generator families and what they share got one package each (0.2)
    "gendesign.model.decoder": "gendesign.model.cdvae.score_decoder",
    "gendesign.model.noise": "gendesign.model.cdvae.noise",
    "gendesign.model.config": "gendesign.model.cdvae.config",
    "gendesign.model.lightning_module": "gendesign.model.cdvae.lightning_module",
    "gendesign.model.training": "gendesign.model.cdvae.training",
    "gendesign.model.sampling": "gendesign.model.cdvae.sampling",
    "gendesign.model.reconstruction": "gendesign.model.cdvae.reconstruction",
    "gendesign.model.bundle": "gendesign.model.cdvae.bundle",
    "gendesign.model.chemistry": "gendesign.model.crystalflow.chemistry_vae",
    "gendesign.model.crystal_flow": "gendesign.model.crystalflow.model",
    "gendesign.model.flow_config": "gendesign.model.crystalflow.config",
    "gendesign.model.flow_sampling": "gendesign.model.crystalflow.sampling",
    "gendesign.model.flow_training": "gendesign.model.crystalflow.training",
    "gendesign.model.flow_bundle": "gendesign.model.crystalflow.bundle",
    "gendesign.model.torus_flow": "gendesign.model.crystalflow.torus_flow",
    "gendesign.model.symmetric_paths": "gendesign.model.crystalflow.symmetric_paths",
    "gendesign.model.templates": "gendesign.model.crystalflow.spacegroup_templates",
    "gendesign.model.constraints": "gendesign.model.common.constraints",
    "gendesign.model.steering": "gendesign.model.common.steering",
    "gendesign.model.symmetrise": "gendesign.model.common.symmetrise",
    "gendesign.model.output": "gendesign.model.common.output",
    # renamed by what they hold, where two modules shared a name (0.2)
    "gendesign.data.chemistry": "gendesign.data.chemistry_table",
    "gendesign.sources.templates": "gendesign.sources.redecoration",
    "gendesign.nn.bundle": "gendesign.nn.bundle_folder",
}


def _warn_moved(old: str, new: str) -> None:
    warnings.warn(
        f"{old} moved to {new}; the old name goes in gendesign {REMOVED_IN}",
        DeprecationWarning,
        stacklevel=3,
    )


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and hands back the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        new = importlib.util.find_spec(MOVED[fullname])
        return importlib.machinery.ModuleSpec(fullname, self, origin=new.origin)

    def create_module(self, spec) -> ModuleType:
        _warn_moved(spec.name, MOVED[spec.name])
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The new module ran already when it was imported."""

    def get_code(self, fullname: str) -> CodeType | None:
        """The new module's code, so that ``python -m OLD`` runs it."""
        spec = importlib.util.find_spec(MOVED[fullname])
        return spec.loader.get_code(spec.name)


def forward_old_module_names(package: str, old_module: str) -> Callable[[str], object]:
    """A module ``__getattr__`` for a package that took the name of a module: the old
    module's names keep working from the package, with a DeprecationWarning."""

    def __getattr__(name: str) -> object:
        module = importlib.import_module(old_module)
        if name.startswith("__") or not hasattr(module, name):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        _warn_moved(f"{package}.{name}", f"{old_module}.{name}")
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)  # warn once, not on every lookup
        return value

    return __getattr__


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (after the normal finders, which find
    nothing at the old paths)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
