"""Things looked up by name (the verl pattern): reward functions, advantage estimators, teacher backends,
benchmarks, scorers, answer rules, prompt templates. Every package uses this one registry, so every lookup behaves
the same: a name is registered once (a second registration is refused, never a silent overwrite), and an unknown
name is a :class:`RegistryError` that lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from ffr_data.errors import ConfigError

T = TypeVar("T")


class RegistryError(ConfigError):
    """A name that is not registered (the message lists the known ones), or one registered twice."""

    @classmethod
    def unknown(cls, kind: str, name: str, known: Iterable[str], where: str | None = None) -> RegistryError:
        prefix = f"{where}: " if where else ""
        return cls(f"{prefix}unknown {kind} {name!r} (known: {', '.join(sorted(known))})")


class Registry(Generic[T]):
    """Items of one ``kind`` by name, in registration order."""

    def __init__(self, kind: str, items: Mapping[str, T] | None = None):
        self.kind = kind
        self._items: dict[str, T] = {}
        for name, item in (items or {}).items():
            self.add(name, item)

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise RegistryError(f"{self.kind} {name!r} is registered twice (known: {', '.join(self.names())})")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda item: self.add(name, item)

    def get(self, name: str, *, where: str | None = None) -> T:
        """The item called ``name``; ``where`` (a config key, a sample id) prefixes the error of an unknown name."""
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError.unknown(self.kind, name, self._items, where) from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def names(self) -> list[str]:
        return sorted(self._items)

    def keys(self) -> list[str]:
        """Registration order (with ``__getitem__``, ``{**registry}`` and ``dict(registry)`` copy it)."""
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def values(self) -> list[T]:
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
