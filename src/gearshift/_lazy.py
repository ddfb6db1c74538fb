"""Names that load on first use (PEP 562), for packages whose ``__init__`` re-exports from
submodules that import heavy things (SQLAlchemy, the price files, the Anthropic SDK)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, where: Mapping[str, str], names: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``where`` maps each lazy name to the module
    that defines it (absolute, or relative to ``package`` when it starts with a dot); a name,
    once loaded, is kept on the package. ``names`` is what ``dir()`` lists."""
    listed = sorted(names)

    def get(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # The absolute name of a relative one (".cost" -> "<package>.cost"); then the import
        # statement's own machinery (importlib.import_module, and the warnings module it loads,
        # cost every `import gearshift` ~0.5 ms).
        target = package + module if module.startswith(".") else module
        __import__(target)
        value = getattr(sys.modules[target], name)
        setattr(sys.modules[package], name, value)
        return value

    def listing() -> list[str]:
        return list(listed)

    return get, listing
