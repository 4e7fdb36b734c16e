"""Typed configs merged as defaults <- YAML file <- ``key=value`` overrides (the EasyR1 pattern).

Every component declares one ``@dataclass`` whose fields carry their documentation in ``metadata["help"]``.
Nested dataclasses are addressed with dots: ``teacher.kappa=0.5``. Unknown keys are errors that name the key.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ffr_data.errors import ConfigError

T = TypeVar("T")


def field(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING,
          secret: bool = False) -> Any:
    """A dataclass field documented where it is declared. A ``secret`` field (an API key) is left out of ``repr``
    and of :func:`to_dict`, so it never reaches logs or saved configs."""
    metadata = {"help": help, "secret": secret}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata, repr=not secret)
    return dataclasses.field(default=default, metadata=metadata, repr=not secret)


def _public(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _public(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.metadata.get("secret")}
    if isinstance(value, list | tuple):
        return [_public(v) for v in value]
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items()}
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, JSON-serialisable dict of a (nested) config dataclass, without its secret fields."""
    return json.loads(json.dumps(_public(cfg), default=str))


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"config key '{key}': cannot parse {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}': {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return dict(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        try:
            number = float(value)
            if annotation is int:
                if not number.is_integer():
                    raise ValueError
                return int(number)
            return number
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected {annotation.__name__}, got {value!r}") from None
    if annotation is str:
        if isinstance(value, dict | list):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return str(value)
    return value


def merge(cfg: T, updates: dict[str, Any], prefix: str = "") -> T:
    """Return a copy of ``cfg`` with ``updates`` (nested dicts or dotted keys) applied and type-checked."""
    nested: dict[str, Any] = {}
    for key, value in updates.items():
        head, _, rest = str(key).partition(".")
        if rest:
            nested.setdefault(head, {})
            if not isinstance(nested[head], dict):
                raise ConfigError(f"config key '{prefix}{head}' is set both as a value and as a section")
            nested[head][rest] = value
        else:
            if isinstance(nested.get(head), dict) and isinstance(value, dict):
                nested[head].update(value)
            else:
                nested[head] = value
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes: dict[str, Any] = {}
    for name, value in nested.items():
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown config key '{prefix}{name}' (known keys here: {known})")
        current = getattr(cfg, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{prefix}{name}' is a section; set its fields, e.g. {prefix}{name}.x=…")
            changes[name] = merge(current, value, prefix=f"{prefix}{name}.")
        else:
            changes[name] = _coerce(value, hints[name], f"{prefix}{name}")
    return dataclasses.replace(cfg, **changes)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``; values are parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, _, raw = item.partition("=")
        key = key.strip()
        if not key:
            raise ConfigError(f"override '{item}' has an empty key")
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key] = raw
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level of a config file must be a mapping")
    return data


def resolve(default: T, config_file: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> T:
    """defaults <- YAML file <- key=value overrides."""
    cfg = default
    if config_file is not None:
        cfg = merge(cfg, load_yaml(config_file))
    return merge(cfg, parse_overrides(list(overrides)))


def describe(cfg_type: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every field, recursively, for ``--help``-style listings."""
    rows = []
    instance = cfg_type()
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(describe(type(value), prefix=f"{prefix}{f.name}."))
        else:
            rows.append((f"{prefix}{f.name}", repr(value), f.metadata.get("help", "")))
    return rows
