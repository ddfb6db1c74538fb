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
that builds a class like :func:`collections.namedtuple`'s without importing :mod:`typing`.
"""

from __future__ import annotations

from _collections import _tuplegetter  # type: ignore[import-not-found]  # namedtuple fields

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
        """Builds ``class X(NamedTuple): a: int; b: str = ""`` as :mod:`typing` does -- a tuple
        class with the annotated fields (and their defaults), the methods and attributes of
        :func:`collections.namedtuple`, and the class body's own -- without importing
        :mod:`typing`, and without the ``exec`` namedtuple compiles each class's ``__new__``
        with (~0.15 ms a class; six are on the path of every hook-run ingest)."""

        def __new__(mcls, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(mcls, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", {}))
            defaults = {f: namespace[f] for f in fields if f in namespace}
            for index, field in enumerate(fields):
                if field.startswith("_"):  # as collections.namedtuple refuses them
                    raise ValueError(f"Field names cannot start with an underscore: {field!r}")
                if field not in defaults and any(f in defaults for f in fields[:index]):
                    raise TypeError(
                        f"Non-default namedtuple field {field} cannot follow default field"
                        f"{'s' if len(defaults) > 1 else ''} {', '.join(defaults)}"
                    )
            body = {
                "__slots__": (),
                "__module__": namespace.get("__module__"),
                "__qualname__": namespace.get("__qualname__", name),
                "__doc__": namespace.get("__doc__") or f"{name}({', '.join(fields)})",
                "__annotations__": namespace.get("__annotations__", {}),
                "_fields": fields,
                "_field_defaults": defaults,
                "__match_args__": fields,
                "__new__": _new(name, fields, defaults),
                "_make": classmethod(_make),
                "_replace": _replace,
                "_asdict": _asdict,
                "__repr__": _repr,
                "__getnewargs__": _getnewargs,
            }
            for index, field in enumerate(fields):
                body[field] = _tuplegetter(index, f"Alias for field number {index}")
            for key, value in namespace.items():
                if key not in fields and key not in _NOT_COPIED:
                    body[key] = value
            return type(name, (tuple,), body)

    _NOT_COPIED = frozenset(
        {"__annotations__", "__module__", "__qualname__", "__slots__"}
    )  # set above

    def _new(name, fields, defaults):
        count = len(fields)
        new_tuple = tuple.__new__

        def __new__(cls, *args, **kwargs):
            if not kwargs and len(args) == count:  # the usual call: every field, in order
                return new_tuple(cls, args)
            if len(args) > count:
                raise TypeError(
                    f"{name}.__new__() takes {count + 1} positional arguments but"
                    f" {len(args) + 1} were given"
                )
            values = dict(zip(fields, args, strict=False))  # args may be fewer
            for key, value in kwargs.items():
                if key not in fields:
                    raise TypeError(f"{name}.__new__() got an unexpected keyword argument {key!r}")
                if key in values:
                    raise TypeError(f"{name}.__new__() got multiple values for argument {key!r}")
                values[key] = value
            missing = [f for f in fields if f not in values and f not in defaults]
            if missing:
                raise TypeError(
                    f"{name}.__new__() missing {len(missing)} required argument(s):"
                    f" {', '.join(repr(f) for f in missing)}"
                )
            return new_tuple(cls, [values[f] if f in values else defaults[f] for f in fields])

        __new__.__qualname__ = f"{name}.__new__"
        return __new__

    def _make(cls, iterable):
        result = tuple.__new__(cls, iterable)
        if len(result) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
        return result

    def _replace(self, **changes):
        result = self._make(map(changes.pop, self._fields, self))
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return result

    def _asdict(self):
        return dict(zip(self._fields, self, strict=True))

    def _repr(self):
        shown = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True)
        )
        return f"{type(self).__name__}({shown})"

    def _getnewargs(self):
        return tuple(self)

    class NamedTuple(metaclass=_NamedTupleMeta):
        """See :class:`typing.NamedTuple` (what type checkers see here)."""
