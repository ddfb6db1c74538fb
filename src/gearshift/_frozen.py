"""Small immutable value classes without :mod:`dataclasses`.

Importing :mod:`dataclasses` (which imports :mod:`inspect`) and generating a class's methods
cost ~7 ms and ~0.7 ms per class on a small machine: for a command run from a hook
(``gearshift ingest claude-code``) the classes on its path were a sixth of its time. A class on
that path derives from :class:`Frozen` instead, names its constructor's fields in order in
``_fields`` (its ``__slots__`` may hold more, derived in ``__init__``) and sets them in
``__init__`` with ``_set(self, name, value)``::

    class Point(Frozen):
        __slots__ = ("x", "y")
        _fields = ("x", "y")

        def __init__(self, x: int, y: int = 0) -> None:
            _set(self, "x", x)
            _set(self, "y", y)

It then behaves as a frozen dataclass with slots: fields cannot be assigned, equality and hash
compare the ``_fields``, ``repr`` shows them, it pickles and copies (through ``__init__``, with
the fields in order), and :meth:`Frozen.replace` makes a changed copy.

:class:`NamedTuple` is :class:`typing.NamedTuple` for type checkers and, at run time, a stand-in
that builds the same :func:`collections.namedtuple` without importing :mod:`typing`.
"""

from __future__ import annotations

import collections  # loaded by the standard library's start-up anyway (functools, re)

TYPE_CHECKING = False  # not typing's: importing typing costs a CLI run ~4 ms
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = ["Frozen", "FrozenError", "NamedTuple", "_set"]

_set = object.__setattr__


class FrozenError(AttributeError):
    """A field of a frozen value was assigned or deleted."""


class Frozen:
    __slots__ = ()
    #: The constructor's fields, in order: compared, hashed, shown and copied.
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "_fields" not in cls.__dict__:  # __slots__ order is no contract (linters sort it)
            raise TypeError(f"{cls.__name__}: a Frozen class names its fields in _fields")

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frozen) and other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through __init__, which sets (and checks) every field again.
        return (self.__class__, self._values())

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (as :func:`dataclasses.replace` makes one)."""
        fields = self._fields
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values = {name: changes.get(name, getattr(self, name)) for name in fields}
        return self.__class__(**values)


if TYPE_CHECKING:
    from typing import NamedTuple
else:

    class _NamedTupleMeta(type):
        """Builds ``class X(NamedTuple): a: int; b: str = ""`` as :mod:`typing` does -- a
        :func:`collections.namedtuple` with the annotated fields and their defaults, and the
        class body's methods and properties -- without importing :mod:`typing`."""

        def __new__(mcls, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(mcls, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", {}))
            defaults = [namespace[f] for f in fields if f in namespace]
            cls = collections.namedtuple(
                name, fields, defaults=defaults, module=namespace.get("__module__")
            )
            for key, value in namespace.items():
                if key not in fields and key not in _NOT_COPIED:
                    setattr(cls, key, value)
            return cls

    _NOT_COPIED = frozenset({"__annotations__", "__module__", "__qualname__", "__slots__"})

    class NamedTuple(metaclass=_NamedTupleMeta):
        """See :class:`typing.NamedTuple` (what type checkers see here)."""
