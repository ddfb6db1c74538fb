"""The lazy provider registry: a name maps to a ``"module:Class"`` string, imported on first use.

Built-in providers are registered exactly the way a third party registers one -- by a string --
so ``import gearshift.providers`` imports no SDK and runs no provider code. A package can also
advertise a provider through the ``gearshift.providers`` entry-point group
(``my-llm = "my_pkg.provider:MyProvider"``); entry points are read only when a name is not found.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from gearshift.errors import ConfigError
from gearshift.providers.base import Provider

__all__ = ["ProviderRegistry", "default_registry", "get_provider", "register_provider"]

ENTRY_POINT_GROUP = "gearshift.providers"

_BUILTINS = {
    "anthropic": "gearshift.providers.anthropic:AnthropicProvider",
    "claude-code": "gearshift.providers.claude_code:ClaudeCodeProvider",
    "sim": "gearshift.providers.sim:SimProvider",
}


class ProviderRegistry:
    """Names -> ``"module:Class"`` targets. ``create(name, **options)`` builds a provider."""

    def __init__(self, targets: dict[str, str] | None = None) -> None:
        self._targets: dict[str, str] = dict(_BUILTINS if targets is None else targets)
        self._entry_points_read = False

    def register(self, name: str, target: str, *, replace: bool = False) -> None:
        """Register ``target`` (``"package.module:Class"``) under ``name``."""
        if ":" not in target:
            raise ConfigError(f"provider target {target!r} must look like 'module:Class'")
        if name in self._targets and not replace and self._targets[name] != target:
            raise ConfigError(
                f"provider {name!r} is already registered", hint="pass replace=True to override it"
            )
        self._targets[name] = target

    def names(self) -> list[str]:
        self._read_entry_points()
        return sorted(self._targets)

    def target(self, name: str) -> str:
        if name not in self._targets:
            self._read_entry_points()
        try:
            return self._targets[name]
        except KeyError:
            raise ConfigError(
                f"unknown provider {name!r}", hint=f"use one of: {', '.join(self.names())}"
            ) from None

    def load(self, name: str) -> type[Any]:
        """The provider class registered under ``name`` (its module is imported now)."""
        module_name, _, attr = self.target(name).partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ConfigError(
                f"provider {name!r} cannot be loaded: {err}",
                hint="install its extra, e.g. pip install 'gearshift[anthropic]'",
            ) from err
        try:
            cls: type[Any] = getattr(module, attr)
        except AttributeError:
            raise ConfigError(f"provider {name!r}: {module_name} has no {attr}") from None
        return cls

    def create(self, name: str, **options: Any) -> Provider:
        provider: Provider = self.load(name)(**options)
        return provider

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self._targets.setdefault(ep.name, ep.value)


default_registry = ProviderRegistry()


def register_provider(name: str, target: str, *, replace: bool = False) -> None:
    """Register a provider in the default registry."""
    default_registry.register(name, target, replace=replace)


def get_provider(name: str, **options: Any) -> Provider:
    """Build the provider registered as ``name`` with ``options`` (constructor keywords)."""
    return default_registry.create(name, **options)
