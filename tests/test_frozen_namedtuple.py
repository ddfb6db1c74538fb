"""gearshift._frozen.NamedTuple: at run time a class that behaves as typing.NamedTuple's."""

from __future__ import annotations

import copy
import pickle
import typing
from typing import Any

import pytest

from gearshift._frozen import NamedTuple


class Point(NamedTuple):
    """A point."""

    x: int
    y: int
    label: str = ""
    weight: float = 1.0

    @property
    def norm(self) -> int:
        return abs(self.x) + abs(self.y)

    def moved(self, dx: int) -> Point:
        return self._replace(x=self.x + dx)


class TypingPoint(typing.NamedTuple):
    """A point."""

    x: int
    y: int
    label: str = ""
    weight: float = 1.0


def _both(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    return Point(*args, **kwargs), TypingPoint(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, 2), {}), ((1, 2, "a", 2.5), {}), ((1,), {"y": 2}), ((), {"y": 2, "x": 1, "weight": 0.0})],
)
def test_it_constructs_as_typing_namedtuple(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    ours, theirs = _both(*args, **kwargs)
    assert tuple(ours) == tuple(theirs) and ours == theirs
    assert isinstance(ours, tuple) and type(ours) is Point
    assert (ours.x, ours.y, ours.label, ours.weight) == tuple(theirs)
    assert repr(ours) == repr(theirs).replace("TypingPoint", "Point")
    assert ours._asdict() == theirs._asdict()
    assert ours._replace(label="b") == theirs._replace(label="b")
    assert Point._make(list(ours)) == ours and type(Point._make(ours)) is Point
    assert hash(ours) == hash(theirs)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1,), {}), ((1, 2, "a", 1.0, "extra"), {}), ((1, 2), {"z": 1}), ((1, 2), {"x": 3})],
)
def test_bad_calls_raise_type_error_as_typing_namedtuple(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        TypingPoint(*args, **kwargs)
    with pytest.raises(TypeError, match=r"Point\.__new__\(\)"):
        Point(*args, **kwargs)


def test_class_attributes_and_body() -> None:
    assert Point._fields == TypingPoint._fields == ("x", "y", "label", "weight")
    assert Point._field_defaults == TypingPoint._field_defaults
    assert Point.__match_args__ == ("x", "y", "label", "weight")
    assert Point.__doc__ == "A point." and Point.__module__ == __name__
    assert Point.__qualname__ == "Point"
    p = Point(3, -4)
    assert p.norm == 7 and p.moved(1) == Point(4, -4)
    match p:
        case Point(x, y):
            assert (x, y) == (3, -4)
    with pytest.raises(AttributeError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.other = 1  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unexpected field names"):
        p._replace(z=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Expected 4 arguments"):
        Point._make([1, 2])


def test_pickle_and_copy() -> None:
    p = Point(1, 2, "x")
    assert pickle.loads(pickle.dumps(p)) == p
    assert type(pickle.loads(pickle.dumps(p))) is Point
    assert copy.copy(p) == p and copy.deepcopy(p) == p


def test_bad_fields_are_refused_as_typing_refuses_them() -> None:
    with pytest.raises(TypeError, match="Non-default namedtuple field b cannot follow"):

        class Late(NamedTuple):
            a: int = 0
            b: int  # type: ignore[misc]

    with pytest.raises(ValueError, match="underscore"):

        class Hidden(NamedTuple):
            _a: int


def test_annotations_are_kept() -> None:
    assert Point.__annotations__ == {"x": "int", "y": "int", "label": "str", "weight": "float"}
