"""Typed configs merged as defaults <- YAML file <- ``key=value`` overrides (the EasyR1 pattern).

Every component declares one ``@dataclass`` whose fields carry their documentation in ``metadata["help"]`` and
their constraints in ``metadata["checks"]`` (``field(..., check=positive)``). Nested dataclasses are addressed with
dots: ``teacher.kappa=0.5``. Unknown keys are errors that name the key; after the merge every field's checks run over
the whole resolved config, so a bad value is refused at load time with the key named (a secret's value never shown).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ffr_data.errors import ConfigError

T = TypeVar("T")


class Check:
    """A constraint on one config value: ``test(value)`` is true when the value is acceptable, ``rule`` says what is
    required ("must be > 0"). ``None`` (an optional setting left unset) is never checked."""

    def __init__(self, test: Callable[[Any], bool], rule: str | Callable[[], str]):
        self.test, self._rule = test, rule

    @property
    def rule(self) -> str:
        return self._rule() if callable(self._rule) else self._rule

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value``, or None when it passes."""
        try:
            ok = bool(self.test(value))
        except (TypeError, ValueError):
            ok = False
        return None if ok else self.rule


def at_least(low: float) -> Check:
    return Check(lambda v: v >= low, f"must be >= {low}")


def at_most(high: float) -> Check:
    return Check(lambda v: v <= high, f"must be <= {high}")


def greater_than(low: float) -> Check:
    return Check(lambda v: v > low, f"must be > {low}")


def less_than(high: float) -> Check:
    return Check(lambda v: v < high, f"must be < {high}")


def in_range(low: float, high: float) -> Check:
    """``low <= value <= high``."""
    return Check(lambda v: low <= v <= high, f"must be within [{low}, {high}]")


def one_of(choices: Collection[Any]) -> Check:
    """Membership in ``choices``, read when checked (a registry that grows later is honoured)."""
    return Check(lambda v: v in choices, lambda: f"must be one of {', '.join(map(str, choices))}")


def each(*checks: Check) -> Check:
    """``checks`` on every item of a list or tuple."""
    return Check(lambda v: all(c.problem(item) is None for item in v for c in checks),
                 lambda: "every item " + " and ".join(c.rule for c in checks))


def _folder_path_ok(value: Any) -> bool:
    """A folder to create or reuse: neither it nor any existing parent is a file."""
    path = Path(os.path.abspath(str(value)))
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate.is_dir()
    return True


positive = greater_than(0)
non_negative = at_least(0)
probability = in_range(0, 1)
folder_path = Check(_folder_path_ok, "must be a folder, but it (or a folder above it) is an existing file")


def field(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING,
          secret: bool = False, check: Check | tuple[Check, ...] = ()) -> Any:
    """A dataclass field documented where it is declared, with the checks its value must pass (run by
    :func:`validate` whenever a config is loaded). A ``secret`` field (an API key) is left out of ``repr`` and of
    :func:`to_dict`, so it never reaches logs or saved configs, and its value never appears in an error."""
    checks = check if isinstance(check, tuple) else (check,)
    metadata = {"help": help, "secret": secret, "checks": checks}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata, repr=not secret)
    return dataclasses.field(default=default, metadata=metadata, repr=not secret)


def _shown(value: Any, secret: bool) -> str:
    """How a value appears in an error: its repr, or only its type for a secret."""
    return f"a {type(value).__name__} (value not shown: secret)" if secret else repr(value)


def validate(cfg: T, prefix: str = "") -> T:
    """Run every field's checks over a (nested) config; the first failure is a :class:`ConfigError` naming the key.
    Returns ``cfg`` unchanged."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            validate(value, prefix=f"{prefix}{f.name}.")
            continue
        if value is None:
            continue
        for check in f.metadata.get("checks", ()):
            problem = check.problem(value)
            if problem is not None:
                raise ConfigError(f"config key '{prefix}{f.name}' {problem}, got "
                                  f"{_shown(value, f.metadata.get('secret', False))}")
    return cfg


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


def _coerce(value: Any, annotation: Any, key: str, secret: bool = False) -> Any:
    """``value`` converted to ``annotation``, or a ConfigError naming ``key`` (and the value, unless ``secret``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    shown = _shown(value, secret)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, secret)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"config key '{key}': cannot parse {shown}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}': {shown} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{key}': expected a list, got {shown}")
        if origin is tuple and args and args[-1] is not Ellipsis:  # fixed length, e.g. tuple[float, float]
            if len(value) != len(args):
                raise ConfigError(f"config key '{key}': expected {len(args)} items, got {shown}")
            return tuple(_coerce(v, a, key, secret) for v, a in zip(value, args, strict=True))
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key, secret) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {shown}")
        return dict(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"config key '{key}': expected true/false, got {shown}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {shown}")
        try:
            number = float(value)
            if math.isnan(number):
                raise ValueError
            if annotation is int:
                if not number.is_integer():
                    raise ValueError
                return int(number)
            return number
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"config key '{key}': expected {annotation.__name__}, got {shown}") from None
    if annotation is str:
        if isinstance(value, dict | list | tuple):
            raise ConfigError(f"config key '{key}': expected a string, got {shown}")
        return str(value)
    return value


def _merge(cfg: T, updates: dict[str, Any], prefix: str = "") -> T:
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
            changes[name] = _merge(current, value, prefix=f"{prefix}{name}.")
        else:
            secret = fields[name].metadata.get("secret", False)
            changes[name] = _coerce(value, hints[name], f"{prefix}{name}", secret)
    return dataclasses.replace(cfg, **changes)


def merge(cfg: T, updates: dict[str, Any], prefix: str = "") -> T:
    """Return a copy of ``cfg`` with ``updates`` (nested dicts or dotted keys) applied, type-checked and validated
    (:func:`validate`: every field's checks, over the whole result)."""
    return validate(_merge(cfg, updates, prefix), prefix)


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
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes().count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at line {line})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level of a config file must be a mapping")
    return data


def resolve(default: T, config_file: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> T:
    """defaults <- YAML file <- key=value overrides, then every field's checks on the result."""
    cfg = default
    if config_file is not None:
        cfg = _merge(cfg, load_yaml(config_file))
    return validate(_merge(cfg, parse_overrides(list(overrides))))


def describe(cfg_type: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every field, recursively, for ``--help``-style listings; a field's checks are named
    after its help, e.g. ``(must be > 0)``."""
    rows = []
    instance = cfg_type()
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(describe(type(value), prefix=f"{prefix}{f.name}."))
        else:
            rules = "; ".join(check.rule for check in f.metadata.get("checks", ()))
            help_text = f.metadata.get("help", "") + (f" ({rules})" if rules else "")
            rows.append((f"{prefix}{f.name}", repr(value), help_text))
    return rows
