"""Typed YAML configuration: strict fields, CLI overrides, one-sentence errors.

Every config class derives from :class:`StrictConfig`; unknown fields are
refused with a suggestion ("unknown field 'max_atom' (did you mean
'max_atoms'?)"). Overrides use dotted keys, e.g. ``data.max_atoms=12``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gendesign.errors import ConfigError

ConfigT = TypeVar("ConfigT", bound="StrictConfig")


class StrictConfig(BaseModel):
    """Base for every config section: no unknown fields, values validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def load_config(
    cls: type[ConfigT],
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> ConfigT:
    """Build ``cls`` from a YAML file (optional) plus overrides (``{"a.b": 1}`` or ``["a.b=1"]``)."""
    source = str(path) if path is not None else "configuration"
    data = read_yaml_mapping(path) if path is not None else {}
    for key, value in _override_pairs(overrides):
        _set_dotted(data, key, value)
    return validate_config(cls, data, source)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The fields of a YAML config file; a missing, unreadable or non-mapping file
    raises one sentence naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of fields")
    return data


def validate_config(
    cls: type[ConfigT], data: Mapping[str, Any], source: str = "configuration"
) -> ConfigT:
    """Build ``cls`` from a mapping; a bad field raises one sentence naming ``source`` and the field."""
    try:
        return cls.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(f"{source}: {describe_validation_error(err, cls)}") from None


def describe_validation_error(err: ValidationError, cls: type[BaseModel]) -> str:
    """The first problem of a pydantic error as one sentence naming the field."""
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        known = _known_fields(cls, first["loc"][:-1])
        close = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known fields: {', '.join(known)})"
        return f"unknown field '{field}'{hint}"
    return f"field '{field}': {first['msg']} (got {first.get('input')!r})"


def cli_overrides(
    set_: Iterable[str] | None = None, fields: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The one way command-line flags become config overrides (dotted name → value).

    ``set_``: ``--set field=value`` texts (values read as YAML); ``fields``: the named
    options (dotted name → value; None means the option was not given, while 0, False
    and "" are values). A named option wins over a ``--set`` of the same field; paths
    become strings."""
    overrides = dict(_override_pairs(list(set_ or [])))
    for key, value in (fields or {}).items():
        if value is not None:
            overrides[key] = str(value) if isinstance(value, Path) else value
    return overrides


def write_resolved_config(config: BaseModel, folder: str | Path, name: str = "config.yaml") -> Path:
    """Write the fully resolved config beside a run's outputs; return the file path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path


def _override_pairs(overrides: Mapping[str, Any] | Iterable[str] | None) -> list[tuple[str, Any]]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides.items())
    pairs = []
    for text in overrides:
        if "=" not in text:
            raise ConfigError(f"override '{text}' must look like field=value")
        key, raw = text.split("=", 1)
        pairs.append((key.strip(), yaml.safe_load(raw)))
    return pairs


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{key}': '{part}' is not a section")
    node[leaf] = value


def _known_fields(cls: type[BaseModel], parents: tuple) -> list[str]:
    model: Any = cls
    for part in parents:
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None or not hasattr(field.annotation, "model_fields"):
            return []
        model = field.annotation
    return list(model.model_fields)
