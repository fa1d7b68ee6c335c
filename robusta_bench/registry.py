"""One small registry mechanism shared by corruptions, extractors and detectors.

Entries are classes registered by a decorator under a stable snake_case (or
kebab-case) name when their module is imported. A registry can also list
entries that are known but unavailable (a missing optional dependency), with an
install hint, instead of breaking imports.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Raised for an unknown or unavailable registry entry."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """A name -> class mapping filled by the :meth:`register` decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._unavailable: dict[str, str] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Class decorator: ``@REGISTRY.register("fog")``.

        The name defaults to the class attribute ``name``. Registering the same
        name twice is an error (it would silently shadow an entry).
        """

        def deco(cls: T) -> T:
            key = name or getattr(cls, "name", None)
            if not key:
                raise ValueError(f"{self.kind} {cls!r} has no name")
            if key in self._entries and self._entries[key] is not cls:
                raise ValueError(f"duplicate {self.kind} name {key!r}")
            try:
                setattr(cls, "name", key)
            except (AttributeError, TypeError):
                pass
            self._entries[key] = cls
            return cls

        return deco

    def mark_unavailable(self, name: str, hint: str) -> None:
        """Record an entry that cannot be used here, with an install hint."""
        self._unavailable[name] = hint

    def get(self, name: str) -> T:
        """Return the entry called ``name`` or raise a helpful :class:`RegistryError`."""
        if name in self._entries:
            return self._entries[name]
        if name in self._unavailable:
            raise RegistryError(f"{self.kind} {name!r} is unavailable: {self._unavailable[name]}")
        close = difflib.get_close_matches(name, list(self._entries), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RegistryError(
            f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names()) or 'none'})"
        )

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def unavailable(self) -> dict[str, str]:
        """Known-but-unavailable names with their install hints."""
        return dict(self._unavailable)

    def describe(self) -> list[dict[str, Any]]:
        """One dict per entry: name plus whatever the class's ``describe()`` returns."""
        rows = []
        for key, cls in self._entries.items():
            info = {"name": key}
            desc = getattr(cls, "describe", None)
            if callable(desc):
                try:
                    info.update(desc())
                except TypeError:
                    pass
            rows.append(info)
        return rows

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
