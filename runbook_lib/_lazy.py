"""Lazy re-exports for package ``__init__`` modules, so ``runbook --help`` imports no heavy library."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, namespace: dict[str, Any], exports: dict[str, str]) -> tuple[Callable, Callable]:
    """Return ``__getattr__`` and ``__dir__`` for a package that re-exports names from private modules.

    Args:
        package (`str`): the package's ``__name__``.
        namespace (`dict`): the package's ``globals()``; a name is cached there once imported.
        exports (`dict[str, str]`): exported name to the relative module that defines it.

    Example:
        >>> __getattr__, __dir__ = lazy_exports(__name__, globals(), {"HubEmulator": "._server"})
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
