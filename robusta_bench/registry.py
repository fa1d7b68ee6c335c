"""One small registry mechanism shared by corruptions, extractors and detectors.

Entries are classes registered by a decorator under a stable snake_case (or
kebab-case) name when their module is imported. A registry finds its entries
itself, the first time it is asked for one (:meth:`Registry.load`):

- it imports every module of its packages (``packages``), so a new entry is
  one new file in such a package;
- it loads the entry points of its group (``group``, e.g.
  ``robusta_bench.corruptions``), so another installed package can add
  entries: ``[project.entry-points."robusta_bench.corruptions"] mine = "pkg.mod"``
  (a module that registers on import, or a class, registered under the entry
  point's name). A plugin that fails to load is listed as unavailable with the
  reason, instead of breaking the others.

A registry can also hold *ablations*: a name that builds a registered entry
(its parent) with fixed options (``robusta-pad`` = ``robusta`` with
``align="pad"``), and entries that are known but unavailable (a missing
optional dependency), with an install hint.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Raised for an unknown or unavailable registry entry."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Ablation:
    """A registered entry (``parent``) built with fixed ``options``."""

    name: str
    parent: str
    options: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


class Registry(Generic[T]):
    """A name -> class mapping filled by the :meth:`register` decorator (see the module docstring)."""

    def __init__(self, kind: str, *, packages: tuple[str, ...] = (), group: str | None = None) -> None:
        self.kind = kind
        self.packages = tuple(packages)
        self.group = group
        self._entries: dict[str, T] = {}
        self._ablations: dict[str, Ablation] = {}
        self._unavailable: dict[str, str] = {}
        self._loaded = False

    # ------------------------------------------------------------ registering
    def register(self, name: str | None = None, **attrs: Any) -> Callable[[T], T]:
        """Class decorator: ``@REGISTRY.register("fog")``.

        The name defaults to the class attribute ``name``; ``attrs`` are set as
        class attributes (e.g. a corruption's ``rank`` in the benchmark tables).
        Registering the same name twice is an error (it would silently shadow
        an entry).
        """

        def deco(cls: T) -> T:
            key = name or getattr(cls, "name", None)
            if not key:
                raise ValueError(f"{self.kind} {cls!r} has no name")
            if (key in self._entries and self._entries[key] is not cls) or key in self._ablations:
                raise ValueError(f"duplicate {self.kind} name {key!r}")
            for attr, value in {"name": key, **attrs}.items():
                try:
                    setattr(cls, attr, value)
                except (AttributeError, TypeError):
                    pass
            self._entries[key] = cls
            return cls

        return deco

    def register_ablation(self, name: str, parent: str, *, summary: str = "", **options: Any) -> Ablation:
        """Register ``name`` as entry ``parent`` built with ``options`` (shown by ``list`` with its parent)."""
        if name in self._entries or (name in self._ablations and self._ablations[name].parent != parent):
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        entry = Ablation(name, parent, dict(options), summary)
        self._ablations[name] = entry
        return entry

    def mark_unavailable(self, name: str, hint: str) -> None:
        """Record an entry that cannot be used here, with an install hint."""
        self._unavailable[name] = hint

    # ------------------------------------------------------------ discovering
    def load(self, *, force: bool = False) -> None:
        """Import the modules of :attr:`packages` and the entry points of :attr:`group` (once)."""
        if self._loaded and not force:
            return
        self._loaded = True
        for package in self.packages:
            for module in package_modules(package):
                importlib.import_module(module)
        if self.group:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                self.mark_unavailable(ep.name, f"plugin {ep.value} failed to load ({type(exc).__name__}: {exc})")
                continue
            if isinstance(obj, type) and obj not in self._entries.values():
                self.register(ep.name)(obj)  # type: ignore[arg-type]

    # ------------------------------------------------------------ looking up
    def get(self, name: str) -> T:
        """The entry called ``name`` (an ablation gives its parent's class), or a helpful :class:`RegistryError`."""
        self.load()
        if name in self._ablations:
            name = self._ablations[name].parent
        if name in self._entries:
            return self._entries[name]
        if name in self._unavailable:
            raise RegistryError(f"{self.kind} {name!r} is unavailable: {self._unavailable[name]}")
        close = difflib.get_close_matches(name, self.names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RegistryError(
            f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names()) or 'none'})"
        )

    def resolve(self, name: str) -> tuple[str, dict[str, Any]]:
        """``(registered entry name, options)``: an ablation's parent and options, or ``(name, {})``."""
        self.get(name)  # raises for an unknown name
        ab = self._ablations.get(name)
        return (ab.parent, dict(ab.options)) if ab else (name, {})

    def parent(self, name: str) -> str | None:
        """The entry that ``name`` derives from: an ablation's parent, or the nearest registered base class."""
        self.load()
        if name in self._ablations:
            return self._ablations[name].parent
        cls = self._entries.get(name)
        for base in getattr(cls, "__mro__", ())[1:]:
            for key, entry in self._entries.items():
                if entry is base:
                    return key
        return None

    def names(self, *, ablations: bool = True) -> list[str]:
        """Registered names in registration order, then the ablations."""
        self.load()
        return list(self._entries) + (list(self._ablations) if ablations else [])

    def unavailable(self) -> dict[str, str]:
        """Known-but-unavailable names with their install hints."""
        self.load()
        return dict(self._unavailable)

    def describe(self) -> list[dict[str, Any]]:
        """One dict per entry: name, parent (when it has one) plus what the class's ``describe()`` returns."""
        rows = []
        for key in self.names():
            info: dict[str, Any] = {"name": key}
            parent = self.parent(key)
            if parent:
                info["parent"] = parent
            ab = self._ablations.get(key)
            if ab is not None:
                info["options"] = dict(ab.options)
                if ab.summary:
                    info["summary"] = ab.summary
                rows.append(info)
                continue
            desc = getattr(self._entries[key], "describe", None)
            if callable(desc):
                try:
                    info.update(desc())
                except TypeError:
                    pass
            rows.append(info)
        return rows

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries or name in self._ablations

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


def package_modules(package: str) -> list[str]:
    """Dotted names of the modules of ``package`` (not sub-packages, not ``_private``), sorted."""
    pkg = importlib.import_module(package)
    found = pkgutil.iter_modules(getattr(pkg, "__path__", []))
    return sorted(f"{package}.{m.name}" for m in found if not m.ispkg and not m.name.startswith("_"))
